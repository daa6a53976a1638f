// Model and settings page: a "Use" button in the catalog or the measured table picks that
// model; while the models are being measured, the advice card refreshes by itself (only that
// card, so nothing typed into the form is lost).
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-use-model]");
  if (!button) return;
  const name = button.dataset.useModel;
  const select = document.getElementById("model-select");
  const text = document.getElementById("model-text");
  if ([...select.options].some((o) => o.value === name)) {
    select.value = name;
    text.value = "";
  } else {
    text.value = name;
  }
  select.scrollIntoView({ behavior: "smooth", block: "center" });
});

function pollAdvice() {
  if (!document.getElementById("advice-running")) return;
  setTimeout(async () => {
    try {
      const page = await (await fetch(location.pathname, { cache: "no-store" })).text();
      const fresh = new DOMParser().parseFromString(page, "text/html").getElementById("advice");
      if (fresh) document.getElementById("advice").replaceWith(fresh);
    } catch (error) {
      // the studio restarting: try again at the next tick
    }
    pollAdvice();
  }, 3000);
}
pollAdvice();
