"""The Label Studio calls tunesmith makes, through label-studio-sdk: connect, find or create the
project, import tasks, read finished tasks, connect an ML backend. Errors a user can cause (no
server at the address, a wrong key, the SDK missing) become one-line TunesmithErrors."""

from __future__ import annotations

from contextlib import contextmanager

from tunesmith.errors import TunesmithError

START = (
    "start one: label-studio start --no-browser --internal-host 127.0.0.1 --port 8080 "
    "(in its own virtual environment: pip install label-studio)"
)


def connect(url: str, api_key: str | None, timeout: float = 120):
    try:
        from label_studio_sdk import LabelStudio
    except ImportError:
        raise TunesmithError(
            "label-studio-sdk is not installed",
            where="tunesmith label",
            fix="pip install 'tunesmith[labeling]'",
        ) from None
    if not api_key:
        raise TunesmithError(
            "no Label Studio API key",
            where="--api-key",
            fix="copy the token from Label Studio's Account & Settings page into --api-key or "
            "$LABEL_STUDIO_API_KEY",
        )
    client = LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=timeout)
    with calls(url):
        client.users.whoami()
    return client


@contextmanager
def calls(url: str):
    """Connection and authorisation failures as errors that name the flag to fix."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        raise TunesmithError(
            f"no Label Studio answers at {url} ({type(exc).__name__})", where="--url", fix=START
        ) from None
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise TunesmithError(
                f"Label Studio at {url} refused the API key ({exc.status_code})",
                where="--api-key",
                fix="use the access token from Account & Settings (a legacy token needs "
                "'legacy tokens' enabled for the organisation: start with "
                "--enable-legacy-api-token)",
            ) from None
        raise TunesmithError(
            f"Label Studio answered {exc.status_code}: {str(exc.body)[:200]}",
            where=url,
            fix="check the project in Label Studio, or run again with --debug",
        ) from None


def project(client, url: str, title: str, label_config: str) -> int:
    """The project called `title` (its labelling config updated to `label_config` if it differs),
    or a new one."""
    with calls(url):
        found = [p for p in client.projects.list(title=title) if p.title == title]
        if not found:
            return client.projects.create(title=title, label_config=label_config).id
        current = client.projects.get(found[0].id)
        if (current.label_config or "").strip() != label_config:
            client.projects.update(current.id, label_config=label_config)
        return current.id


def tasks(client, url: str, project_id: int, annotated: bool = False) -> list[dict]:
    """The project's tasks as plain dicts (Label Studio's export shape: id, data, annotations)."""
    with calls(url):
        pager = client.tasks.list(
            project=project_id, fields="all", only_annotated=annotated or None, page_size=500
        )
        return [
            {
                "id": t.id,
                "data": dict(t.data),
                "annotations": [dict(a) for a in (t.annotations or [])],
            }
            for t in pager
        ]


def import_tasks(client, url: str, project_id: int, items: list[dict]) -> list[int]:
    with calls(url):
        done = client.projects.import_tasks(id=project_id, request=items, return_task_ids=True)
    return list(done.task_ids or [])


def add_backend(client, url: str, project_id: int, backend_url: str, title: str) -> int:
    """Connect an ML backend to the project (Label Studio calls its /health and /setup now)."""
    from label_studio_sdk.core.api_error import ApiError

    with calls(url):
        for known in client.ml.list(project=project_id):
            if known.url.rstrip("/") == backend_url.rstrip("/"):
                return known.id
        try:
            made = client.ml.create(url=backend_url, project=project_id, title=title)
        except ApiError as exc:
            if exc.status_code not in (400, 403) or "api key" in str(exc.body).lower():
                raise
            detail = exc.body.get("detail", exc.body) if isinstance(exc.body, dict) else exc.body
            raise TunesmithError(
                f"Label Studio refused the ML backend at {backend_url}: {detail}",
                where="--backend-url",
                fix="start `tunesmith label backend RUN` first; a backend on the same machine "
                "or network needs Label Studio started with ML_BLOCK_LOCAL_IP=false and "
                "SSRF_PROTECTION_ENABLED=false in its environment",
            ) from None
        return made.id
