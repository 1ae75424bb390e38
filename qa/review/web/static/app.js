// ru-contact-qa review page: reviewer name, filters, seeking the player, verdicts. No framework.
"use strict";

const REVIEWER_KEY = "qa.reviewer";

function setupReviewer() {
  const input = document.getElementById("reviewer");
  if (!input) return;
  input.value = localStorage.getItem(REVIEWER_KEY) || "";
  input.addEventListener("input", () => localStorage.setItem(REVIEWER_KEY, input.value.trim()));
}

function setupFilters() {
  // Empty fields stay out of the address, so links stay short and shareable.
  for (const form of document.querySelectorAll("form.filters, form.page-size")) {
    form.addEventListener("submit", () => {
      for (const el of form.elements) if (el.name && el.value === "" ) el.disabled = true;
    });
  }
  for (const el of document.querySelectorAll("[data-autosubmit]")) {
    el.addEventListener("change", () => el.form.requestSubmit());
  }
}

function seek(seconds) {
  const player = document.getElementById("player");
  if (!player || !Number.isFinite(seconds)) return;
  player.currentTime = seconds;
  player.play().catch(() => {});
}

function showFinding(key) {
  const card = document.querySelector(`.finding[data-key="${CSS.escape(key)}"]`);
  if (!card) return;
  card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  card.classList.remove("flash");
  void card.offsetWidth;
  card.classList.add("flash");
}

function setupSeeking() {
  document.addEventListener("click", (event) => {
    if (event.target.closest(".review")) return;
    const target = event.target.closest("[data-seek]");
    if (!target) return;
    event.stopPropagation();
    seek(parseFloat(target.dataset.seek));
    if (target.dataset.finding) showFinding(target.dataset.finding);
  });
  const player = document.getElementById("player");
  if (!player) return;
  const turns = [...document.querySelectorAll(".turn[data-seek]")];
  player.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    for (const turn of turns) {
      const on = t >= parseFloat(turn.dataset.seek) && t <= parseFloat(turn.dataset.end);
      turn.classList.toggle("playing", on);
    }
  });
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

function showError(box, message) {
  const error = box.querySelector(".review-error");
  error.textContent = message;
  error.hidden = !message;
}

function templateText(id) {
  const t = document.getElementById(id);
  return t ? t.content.textContent.trim() : id;
}

async function sendVerdict(box, verdict) {
  const reviewerInput = document.getElementById("reviewer");
  const reviewer = (reviewerInput?.value || "").trim();
  const comment = box.querySelector(".comment").value.trim();
  const body = {
    conversation_id: box.dataset.conversation,
    finding_key: box.dataset.findingKey || null,
    verdict, comment: comment || null, reviewer,
  };
  if (reviewerInput && !reviewer) {
    showError(box, templateText("error-reviewer"));
    document.getElementById("reviewer")?.focus();
    return;
  }
  let response;
  try {
    response = await fetch("/api/reviews", {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    });
  } catch (e) {
    showError(box, templateText("error-network"));
    return;
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    showError(box, data.detail || `HTTP ${response.status}`);
    return;
  }
  showError(box, "");
  const slot = box.querySelector(".verdict-slot");
  slot.replaceChildren(document.getElementById(`verdict-${data.verdict}`).content.cloneNode(true));
  const by = document.createElement("span");
  by.className = "muted by";
  by.textContent = ` ${data.reviewer}${data.comment ? `: «${data.comment}»` : ""}`;
  slot.append(by);
  box.querySelector(".comment").value = "";
  if (data.finding_key) {
    for (const mark of document.querySelectorAll(`mark[data-finding="${CSS.escape(data.finding_key)}"]`)) {
      mark.classList.remove("v-confirmed", "v-false_positive", "v-disputed");
      mark.classList.add(`v-${data.verdict}`);
    }
  }
}

function setupReviews() {
  for (const box of document.querySelectorAll(".review")) {
    box.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-verdict]");
      if (button) sendVerdict(box, button.dataset.verdict);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupReviewer();
  setupFilters();
  setupSeeking();
  setupReviews();
});
