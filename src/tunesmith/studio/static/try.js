// The Try page: send the text, image or chat to the studio, show the answer it renders.
"use strict";
(function () {
  const form = document.getElementById("try-form");
  if (!form) return;
  const result = document.getElementById("try-result");
  const input = document.getElementById("try-input");
  const chatBox = document.getElementById("try-chat");
  const messages = [];  // the conversation, kept in the page

  function escapeText(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }
  function addTurn(role, html) {
    const turn = document.createElement("div");
    turn.className = "turn " + role;
    turn.dataset.role = role;
    const who = role === "user" ? form.dataset.you : form.dataset.model;
    turn.innerHTML = `<b>${escapeText(who)}</b> ${html}`;
    chatBox.appendChild(turn);
    return turn;
  }

  const image = document.getElementById("try-image");
  const drop = document.getElementById("try-drop");
  let dropped = null;
  function preview(file) {
    dropped = file;
    const img = document.getElementById("try-preview");
    img.src = URL.createObjectURL(file);
    img.hidden = false;
  }
  if (image) image.addEventListener("change", () => image.files[0] && preview(image.files[0]));
  if (drop) {
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files[0]) preview(e.dataTransfer.files[0]);
    });
  }
  const reset = document.getElementById("try-reset");
  if (reset) reset.addEventListener("click", () => { messages.length = 0; chatBox.innerHTML = ""; result.innerHTML = ""; });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData();
    const mode = form.dataset.mode;
    let pending = null;
    if (mode === "image") {
      if (dropped) body.append("image", dropped, dropped.name);
    } else {
      body.append("text", input.value);
    }
    if (mode === "chat") {
      body.append("chat", JSON.stringify(messages));
      addTurn("user", escapeText(input.value));
      pending = addTurn("assistant", `<span class="muted">${escapeText(form.dataset.waiting)}</span>`);
    } else {
      result.innerHTML = `<p class="muted">${escapeText(form.dataset.waiting)}</p>`;
    }
    const button = document.getElementById("try-button");
    button.disabled = true;
    try {
      const response = await fetch(form.dataset.url, {method: "POST", body});
      const data = await response.json().catch(() => ({detail: `${response.status} ${response.statusText}`}));
      if (!response.ok) {
        const error = `<p class="error" id="try-error">${escapeText(data.error || data.detail || response.statusText)}</p>`;
        if (pending) { pending.remove(); chatBox.lastChild.remove(); }
        result.innerHTML = error;
        return;
      }
      if (mode === "chat") {
        messages.push({role: "user", content: input.value});
        messages.push({role: "assistant", content: data.answer.text});
        pending.innerHTML = `<b>${escapeText(form.dataset.model)}</b> ${data.html}`;
        result.innerHTML = "";
        input.value = "";
      } else {
        result.innerHTML = data.html;
      }
    } finally {
      button.disabled = false;
    }
  });
})();
