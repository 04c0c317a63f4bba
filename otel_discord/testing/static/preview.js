// Keeps the otel-discord preview live: polls /preview/state with the last revision seen and
// patches the columns in place. Message HTML comes from the server's renderer (which escapes
// every piece of text); everything built here uses textContent, never HTML strings.
"use strict";

const STATE_URL = "/preview/state";
const POLL_MS = 700;
let revision = Number(document.body.dataset.revision || -1);
let firstLoad = true;

function fromHtml(html) {
  const template = document.createElement("template");
  template.innerHTML = html; // produced by otel_discord.testing.preview, which escapes all text
  return template.content.firstElementChild;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function channelSection(name) {
  const section = el("section", "channel");
  section.dataset.channel = name;
  const title = el("h2");
  title.append(el("span", "hash", "#"), document.createTextNode(name));
  section.append(title, el("div", "messages"));
  return section;
}

function renderChannels(channels) {
  const board = document.getElementById("board");
  const rejections = document.getElementById("rejections");
  const sections = new Map([...board.querySelectorAll("section.channel")].map((s) => [s.dataset.channel, s]));
  for (const channel of channels) {
    let section = sections.get(channel.name);
    if (!section) {
      section = channelSection(channel.name);
      board.insertBefore(section, rejections);
    }
    const list = section.querySelector(".messages");
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
    const existing = new Map([...list.children].map((node) => [node.dataset.id, node]));
    let previous = null;
    for (const message of channel.messages) {
      let node = existing.get(message.id);
      existing.delete(message.id);
      if (!node || node.dataset.version !== String(message.version)) {
        const fresh = fromHtml(message.html);
        if (!firstLoad) fresh.classList.add("fresh");
        if (node) node.replaceWith(fresh);
        node = fresh;
      }
      const wanted = previous ? previous.nextElementSibling : list.firstElementChild;
      if (wanted !== node) list.insertBefore(node, wanted);
      previous = node;
    }
    for (const gone of existing.values()) gone.remove(); // deleted messages
    section.classList.toggle("empty", channel.messages.length === 0);
    const older = channel.total - channel.messages.length;
    section.querySelector("h2").title = older > 0 ? `the last ${channel.messages.length} of ${channel.total} messages` : "";
    if (atBottom || firstLoad) list.scrollTop = list.scrollHeight;
  }
}

function renderStats(stats, messageCount) {
  const limited = stats.rate_limited;
  const items = [
    ["messages", messageCount, ""],
    ["edited", stats.edits, "PATCHes of a message (grouping updates a message in place)"],
    ["429s", limited.user + limited.shared + limited.global + stats.banned,
      `user ${limited.user} · shared ${limited.shared} · global ${limited.global} · banned ${stats.banned}`],
    ["rejected", stats.rejected, "4xx answers other than 429; Discord's error JSON is in the last column"],
    ["requests", stats.requests, `faults ${stats.faults} · dropped while down ${stats.dropped}`],
  ];
  const box = document.getElementById("stats");
  box.replaceChildren(...items.map(([name, value, tip]) => {
    const item = el("span", "stat");
    item.dataset.stat = name;
    item.title = tip;
    if ((name === "429s" || name === "rejected") && value > 0) item.dataset.alert = "yes";
    item.append(el("b", "", String(value)), document.createTextNode(" " + name));
    return item;
  }));
}

function renderRejections(rejected, total) {
  const box = document.getElementById("rejections");
  box.hidden = total === 0;
  if (total === 0) return;
  const title = el("h2", "", `⛔ rejected payloads (${total})`);
  const items = rejected.map((r) => {
    const item = el("div", "rejection");
    const head = el("div", "rejection-head");
    head.append(el("b", "", String(r.status)), document.createTextNode(` ${r.method} ${r.path}`));
    const payload = typeof r.payload === "string" ? r.payload : JSON.stringify(r.payload, null, 2);
    const details = el("details");
    details.append(el("summary", "", "payload"), el("pre", "", (payload || "").slice(0, 8000)));
    item.append(head, el("pre", "rejection-error", JSON.stringify(r.error, null, 2)), details);
    return item;
  });
  const list = el("div", "messages");
  list.append(...items);
  if (total > rejected.length) list.append(el("div", "rejection-more", `… and ${total - rejected.length} older`));
  box.replaceChildren(title, list);
}

function apply(state) {
  renderChannels(state.channels);
  const count = state.channels.reduce((n, c) => n + c.total, 0);
  renderStats(state.stats, count);
  renderRejections(state.rejected, state.stats.rejected);
  document.body.dataset.revision = String(state.revision);
  firstLoad = false;
}

async function poll() {
  let delay = POLL_MS;
  const live = document.getElementById("live");
  try {
    const since = firstLoad ? "" : `?since=${revision}`;
    const response = await fetch(STATE_URL + since, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const state = await response.json();
    if (state.channels) apply(state);
    revision = state.revision;
    live.textContent = "● live";
    live.classList.remove("offline");
  } catch (error) {
    live.textContent = "● offline (retrying)";
    live.classList.add("offline");
    delay = 3000;
  }
  setTimeout(poll, delay);
}

document.addEventListener("click", (event) => {
  const spoiler = event.target.closest(".spoiler");
  if (spoiler) spoiler.classList.toggle("shown");
});

poll();
