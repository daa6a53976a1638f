// Model and settings page: a "Use" button in the catalog or the measured table picks that model.
"use strict";
document.querySelectorAll("[data-use-model]").forEach((button) => {
  button.addEventListener("click", () => {
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
});
