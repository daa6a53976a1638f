"""tunesmith studio: the whole path (data, settings, training, runs, trying, deploying,
labelling) in a local web app, in Chinese and English. It calls what the CLI calls: training,
export, retraining and labelling run as `tunesmith` commands in their own process, queued one
at a time.

    app.py        the FastAPI app: routers of the pages below, language, login, static files
    workspace.py  where uploads, runs and the queue live (under `tunesmith studio --dir`)
    i18n.py       the translations (locales/<lang>/*.json, one file per page group)
    rendering.py  server-rendered pages (templates/) with the translator in their context
    errors.py     the studio's errors (PageError), said in the page's language
    server.py     `tunesmith studio`: uvicorn on 127.0.0.1 unless a key guards another address
"""
