// ru-contact-qa review page: reviewer name, filters, seeking the player, verdicts, search marks and saving a
// search as a rule. No framework.
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

function openAtMoment() {
  // A search result opens the conversation at ?t=SECONDS#turn-N: that turn shown, the player set to that second.
  const params = new URLSearchParams(location.search);
  const at = parseFloat(params.get("t"));
  const turn = location.hash.startsWith("#turn-") ? document.getElementById(location.hash.slice(1)) : null;
  if (turn) {
    turn.classList.add("found");
    turn.scrollIntoView({ block: "center" });
  }
  const player = document.getElementById("player");
  if (!player || !Number.isFinite(at)) return;
  const place = () => { player.currentTime = at; };
  if (player.readyState >= 1) place();
  else {
    // the player loads nothing until asked (each listening is audited): opening at a moment asks for it
    player.addEventListener("loadedmetadata", place, { once: true });
    player.preload = "metadata";
    player.load();
  }
}

function searchMarks() {
  const right = [], wrong = [];
  for (const hit of document.querySelectorAll(".hit[data-key]")) {
    const picked = hit.querySelector(".mark-hit input:checked");
    if (picked && picked.value === "right") right.push(hit.dataset.key);
    if (picked && picked.value === "wrong") wrong.push(hit.dataset.key);
  }
  return { right, wrong };
}

async function saveRule(form, overwrite) {
  const box = form.closest(".save-rule");
  const error = box.querySelector(".save-error"), done = box.querySelector(".save-result");
  error.hidden = true;
  const marks = searchMarks();
  if (!marks.right.length) {
    error.textContent = templateText("error-no-right");
    error.hidden = false;
    return;
  }
  const data = new FormData(form);
  const body = {
    q: form.dataset.query, fuzzy: form.dataset.fuzzy === "1", right: marks.right, wrong: marks.wrong, overwrite,
    rule_id: data.get("rule_id").trim(), title: data.get("title").trim(), speaker: data.get("speaker"),
    kind: data.get("kind") || null, category: data.get("category").trim(), severity: data.get("severity"),
    status: data.get("status"),
  };
  let response;
  try {
    response = await fetch("/api/search/rule", {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    });
  } catch (e) {
    error.textContent = templateText("error-network");
    error.hidden = false;
    return;
  }
  const answer = await response.json().catch(() => ({}));
  if (response.status === 409 && answer.exists && !overwrite) {
    if (confirm(templateText("confirm-overwrite"))) saveRule(form, true);
    return;
  }
  if (!response.ok) {
    error.textContent = answer.detail || `HTTP ${response.status}`;
    error.hidden = false;
    return;
  }
  done.replaceChildren();
  const head = document.createElement("p");
  head.className = "saved";
  head.textContent = `Правило ${answer.rule_id} сохранено, его тест проходит (верных примеров: ${answer.hits}, ` +
    `неверных: ${answer.oks}). Файлы: ${answer.files.join(", ")}.`;
  const next = document.createElement("p");
  next.className = "muted small";
  next.textContent = `Проверьте: qa check-rules ${answer.rules_dir}; примените: qa rescore --rules ${answer.rules_dir}.`;
  done.append(head, next);
  for (const note of answer.notes) {
    const line = document.createElement("p");
    line.className = "muted small";
    line.textContent = note;
    done.append(line);
  }
  done.hidden = false;
}

function setupSaveRule() {
  const form = document.getElementById("save-rule");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveRule(form, false);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupReviewer();
  setupFilters();
  setupSeeking();
  setupReviews();
  openAtMoment();
  setupSaveRule();
});
