// The public FAQ page: reads GET /v1/faq and shows the answers as text (never as HTML).
"use strict";

const TOPICS = {
  declaration: "Khai báo · Declaration",
  qr_code: "Mã QR · QR code",
  testing: "Xét nghiệm · Testing",
  quarantine: "Cách ly · Quarantine",
  vaccination: "Tiêm chủng · Vaccination",
  travel: "Đi lại · Travel",
  other: "Khác · Other",
};

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(items, searched) {
  const list = document.getElementById("results");
  const status = document.getElementById("status");
  list.replaceChildren();
  if (items.length === 0) {
    status.textContent = searched
      ? "Chưa có câu trả lời phù hợp. · No matching answer yet."
      : "Chưa có câu trả lời nào. · No answers yet.";
    return;
  }
  status.textContent = searched
    ? `${items.length} câu trả lời phù hợp nhất · best ${items.length} answers`
    : "Câu trả lời mới nhất · Latest answers";
  for (const item of items) {
    const entry = element("li");
    entry.id = item.id;
    entry.append(element("h2", "title", item.title));
    entry.append(element("p", "question", item.question));
    entry.append(element("p", "answer", item.answer));
    const day = new Date(item.published_at).toLocaleDateString("vi-VN");
    entry.append(element("p", "meta", `${TOPICS[item.category] || item.category} · ${day}`));
    list.append(entry);
  }
}

async function search(q, category) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (category) params.set("category", category);
  const status = document.getElementById("status");
  status.textContent = "Đang tìm… · Searching…";
  try {
    const response = await fetch(`/v1/faq?${params}`, { headers: { "Accept-Language": "vi" } });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      status.textContent = problem.detail || "Không tìm được. · Search failed.";
      return;
    }
    show((await response.json()).items, Boolean(q));
  } catch (error) {
    status.textContent = "Mất kết nối, thử lại sau. · Offline, try again.";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("search");
  const query = document.getElementById("q");
  const category = document.getElementById("category");
  const initial = new URLSearchParams(window.location.search);
  query.value = (initial.get("q") || "").slice(0, 200);
  category.value = TOPICS[initial.get("category")] ? initial.get("category") : "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (query.value.trim()) params.set("q", query.value.trim());
    if (category.value) params.set("category", category.value);
    history.replaceState(null, "", params.toString() ? `?${params}` : window.location.pathname);
    search(query.value.trim(), category.value);
  });
  search(query.value.trim(), category.value);
});
