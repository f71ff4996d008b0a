//! DEV ONLY — an in-memory stand-in for `src/lib/tauri.ts`, swapped in by vite.config.ts when
//! `VITE_MOCK_IPC=1` and `vite` serves (never in `vite build`). It lets the UI run in a plain
//! browser for layout work and screenshots. URL switches: `?phase=welcome|locked|ready`,
//! `?empty=1` (no conversations), `?offline=1`, `?theme=light|dark`, `?unconfirmed=1` (this
//! device waits to be confirmed), `?held=bob` (sending to bob is held).

import { directConversationId, directUserOf, groupConversationId, groupIdOf } from "../lib/ids";
import type * as Real from "../lib/tauri";
import type {
  AppStatus,
  ClientEvent,
  CommandError,
  ContactProfile,
  ErrorCode,
  Conversation,
  ConversationId,
  DeviceId,
  DeviceSummary,
  ExportFormat,
  ExportScope,
  FileDrop,
  KeyBackupStatus,
  LocalGroup,
  Message,
  MessageVersion,
  PathPurpose,
  Quote,
  Progress,
  RestoreRequest,
  Role,
  SearchHit,
  Settings,
  SignInRequest,
  VerificationState,
  VerificationView,
} from "../lib/types";

const params = new URLSearchParams(window.location.search);
const ME = "alice";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const now = Date.now();

const account = { user_id: ME, device_id: "JXQW7PLMRA", server: "https://chat.example.org", server_certificate: null };
let status: AppStatus = {
  phase: (params.get("phase") as AppStatus["phase"] | null) ?? "welcome",
  account: params.get("phase") === "ready" ? account : null,
  locked:
    params.get("phase") === "locked"
      ? { user_id: ME, server: account.server, code: "passphrase_required", message: "", has_passphrase: true }
      : null,
  local_server: null,
  connection: params.get("offline") ? "offline" : "online",
};
let settings: Settings = {
  theme: (params.get("theme") as Settings["theme"] | null) ?? "system",
  notifications: true,
  previews: false,
  backup_reminder: true,
  keep_running: true,
  start_at_login: false,
};

let keyBackup: KeyBackupStatus = { enabled: false, kind: null, version: null, sessions: 4, backed_up: 0, error: null };

let nextId = 1;
const messages: Message[] = [];
/** Every text of an edited message, oldest first (as the engine keeps them). */
const versions = new Map<number, MessageVersion[]>();

function quoteOf(target: Message): Quote {
  const body = target.kind === "file" && target.file ? target.body || target.file.name : target.body;
  return { sender_user: target.sender_user, message_id: target.message_id, id: target.id, body: body.slice(0, 200), deleted: target.deleted };
}

/** The message an action is about, as the engine checks it. */
function actionTarget(id: number, own: boolean): Message | CommandError {
  const m = messages.find((x) => x.id === id);
  if (!m || (m.kind !== "text" && m.kind !== "file")) return fail("invalid_input");
  if (m.deleted) return fail("invalid_input");
  if (own && (m.sender_user !== ME || m.status === "failed")) return fail("invalid_input");
  return m;
}

function changed(m: Message): Message {
  const copy = { ...m, reactions: m.reactions.map((r) => ({ ...r, users: [...r.users] })) };
  emitClient({ type: "message_changed", message: copy });
  return copy;
}
const groups: Record<string, LocalGroup> = {
  "book-club": {
    group_id: "book-club",
    name: "Book club",
    version: 3,
    joined: true,
    signed: true,
    invited: [],
    members: [
      { user_id: ME, role: "owner" },
      { user_id: "bob", role: "admin" },
      { user_id: "carol", role: "member" },
      { user_id: "dave", role: "member" },
    ],
  },
};
const conversations: Conversation[] = [];
/** A conversation's own controls, as a new one has them. */
const CONTROLS = { muted_until: null, archived: false, pinned: false, marked_unread: false, draft: "", disappear_secs: null } as const;

/** Whom a message of mine goes to: the peer, or the group's other members. */
function recipientsOf(conversationId: ConversationId): number {
  const group = groups[groupIdOf(conversationId) ?? ""];
  return directUserOf(conversationId) !== null ? 1 : Math.max(0, (group?.members.length ?? 1) - 1);
}

/** Whether read receipts are on (the engine's profile setting). */
let readReceiptsOn = true;

/** A picture for the mock's profiles: a coloured circle with a letter (SVG, for the dev page only). */
function mockPicture(letter: string, colour: string): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="${colour}"/><circle cx="32" cy="26" r="12" fill="#fff8"/><rect x="12" y="42" width="40" height="22" rx="11" fill="#fff8"/><text x="52" y="16" font-size="12" fill="#fff">${letter}</text></svg>`;
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}

/** Profiles as the engine would know them: bob chose a name and a picture, carol a name. */
const profiles: Record<string, { profile: ContactProfile; picture: string | null }> = {
  bob: { profile: { user_id: "bob", name: "Bob Baker", avatar: true, version: 1 }, picture: mockPicture("B", "#0369a1") },
  carol: { profile: { user_id: "carol", name: "Carol Smith", avatar: false, version: 1 }, picture: null },
};

/** A message as the engine gives it: nobody's read receipts while mine are off. */
function shown(m: Message): Message {
  return readReceiptsOn || !m.receipts ? { ...m } : { ...m, receipts: { ...m.receipts, read: [] } };
}

/** `readers` got (or, with `read`, saw) my message `m`: recorded and announced as the engine does. */
function receipt(m: Message, readers: string[], read: boolean): void {
  if (!m.receipts) return;
  const delivered = [...m.receipts.delivered, ...readers.filter((u) => !m.receipts?.delivered.includes(u))];
  const seen = read ? [...m.receipts.read, ...readers.filter((u) => !m.receipts?.read.includes(u))] : m.receipts.read;
  m.receipts = { ...m.receipts, delivered, read: seen };
  emitClient({ type: "message_changed", message: shown(m) });
}

function msg(conversation_id: ConversationId, sender: string, body: string, ts: number, extra: Partial<Message> = {}): Message {
  const outgoing = sender === ME;
  const m: Message = {
    id: nextId++,
    conversation_id,
    message_id: `m${nextId}`,
    sender_user: sender,
    sender_device: outgoing ? account.device_id : "DEVICE",
    kind: "text",
    body,
    status: outgoing ? "sent" : "received",
    reason: null,
    outgoing,
    ts,
    server_ts: ts,
    file: null,
    reply_to: null,
    reactions: [],
    edited: false,
    deleted: false,
    receipts: outgoing ? { recipients: recipientsOf(conversation_id), delivered: [], read: [] } : null,
    ...extra,
  };
  messages.push(m);
  return m;
}

let seeded = false;
function seed(): void {
  if (seeded || params.get("empty")) return;
  seeded = true;
  const b = directConversationId("bob");
  const g = groupConversationId("book-club");
  const c = directConversationId("carol");
  const readByBob = { recipients: 1, delivered: ["bob"], read: ["bob"] };
  for (let i = 0; i < 60; i++) {
    const mine = i % 3 === 0;
    msg(b, mine ? ME : "bob", `Older message number ${i + 1} about the trip.`, now - 9 * DAY + i * 7 * MINUTE, {
      receipts: mine ? readByBob : null,
    });
  }
  msg(b, "bob", "Did you get the tickets for Saturday?", now - DAY - 3 * HOUR);
  msg(b, ME, "Yes! Two seats, row F.", now - DAY - 3 * HOUR + 2 * MINUTE, { receipts: readByBob });
  msg(b, ME, "I'll bring snacks too", now - DAY - 3 * HOUR + 3 * MINUTE, { receipts: readByBob });
  msg(b, "bob", "", now - DAY - HOUR, { kind: "undecryptable", status: "undecryptable", reason: "missing_room_key" });
  msg(b, "bob", "bob's identity key changed.", now - 5 * HOUR, { kind: "system", status: "system", reason: "master_key_changed" });
  msg(b, "bob", "", now - 4 * HOUR, { kind: "system", status: "system", reason: "unconfirmed_device", sender_device: "ZXCVBNMLKJ" });
  msg(b, "bob", "Sent this from my new tablet", now - 3 * HOUR, { reason: "unconfirmed_device", sender_device: "ZXCVBNMLKJ" });
  if (params.get("unconfirmed")) msg(b, "bob", "", now - 2.5 * HOUR, { kind: "undecryptable", status: "undecryptable", reason: "withheld" });
  const perfect = msg(b, "bob", "Perfect. See you at <b>7</b> <img src=x onerror=alert(1)>", now - 2 * HOUR);
  perfect.reactions = [{ emoji: "👍", users: [ME] }];
  const entrance = msg(b, ME, "See you then — I'll be at the main entrance.\nText me if you're late.", now - 90 * MINUTE, {
    reply_to: quoteOf(perfect),
    receipts: { recipients: 1, delivered: ["bob"], read: [] },
    reactions: [
      { emoji: "❤️", users: ["bob"] },
      { emoji: "😂", users: ["bob", ME] },
    ],
  });
  entrance.edited = true;
  versions.set(entrance.id, [
    { body: "See you then — at the side entrance.", ts: now - 90 * MINUTE },
    { body: entrance.body, ts: now - 85 * MINUTE },
  ]);
  msg(b, "bob", "", now - 60 * MINUTE, { deleted: true });
  msg(b, ME, "This one didn't go through", now - 20 * MINUTE, { status: "failed", reason: "offline" });
  msg(g, ME, "bob added carol and dave.", now - 3 * DAY, { kind: "system", status: "system" });
  msg(g, "bob", "Next book: The Left Hand of Darkness?", now - 3 * DAY + 5 * MINUTE);
  msg(g, "carol", "Yes please", now - 3 * DAY + 6 * MINUTE);
  msg(g, "carol", "I have a spare copy if anyone needs one", now - 3 * DAY + 7 * MINUTE);
  msg(g, "dave", "", now - 3 * DAY + 9 * MINUTE, { kind: "undecryptable", status: "undecryptable", reason: "before_key" });
  msg(g, ME, "Great choice. Meeting on the 14th?", now - 40 * MINUTE, {
    receipts: { recipients: 3, delivered: ["bob", "carol"], read: ["bob"] },
  });
  msg(c, "carol", "Thanks for the recommendation!", now - 12 * DAY);
  conversations.push(
    { id: b, kind: "direct", peer: "bob", title: "bob", last_ts: 0, last_preview: "", unread: 2, ...CONTROLS },
    { id: g, kind: "group", peer: "book-club", title: "Book club", last_ts: 0, last_preview: "", unread: 5, ...CONTROLS },
    { id: c, kind: "direct", peer: "carol", title: "carol", last_ts: 0, last_preview: "", unread: 0, ...CONTROLS },
  );
  for (const conv of conversations) refreshConversation(conv.id);
}

function refreshConversation(id: ConversationId): Conversation | undefined {
  const conv = conversations.find((c) => c.id === id);
  if (!conv) return undefined;
  const own = messages.filter((m) => m.conversation_id === id);
  const last = own[own.length - 1];
  conv.last_ts = last?.ts ?? 0;
  conv.last_preview = last ? (last.kind === "undecryptable" ? "Can't decrypt this message yet" : last.body) : "";
  return { ...conv };
}

/** A change to a conversation's own controls, announced as `conversation_updated` (a draft quietly). */
function control(id: ConversationId, change: (c: Conversation) => void, announce = true): Promise<null> {
  const conv = conversations.find((c) => c.id === id);
  if (!conv) return Promise.reject(fail("invalid_input"));
  change(conv);
  if (announce) setTimeout(() => emitClient({ type: "conversation_updated", conversation: { ...conv } }), 20);
  return delay(null, 10);
}

const listeners = new Map<string, Set<(payload: unknown) => void>>();
function emit(event: string, payload: unknown): void {
  for (const l of listeners.get(event) ?? []) l(payload);
}
function emitClient(event: ClientEvent): void {
  emit("sotto://client", event);
}
function on<T>(event: string, handler: (payload: T) => void): Real.Unsubscribe {
  const set = listeners.get(event) ?? new Set();
  listeners.set(event, set);
  const l = (p: unknown) => handler(p as T);
  set.add(l);
  return () => set.delete(l);
}

const fail = (code: ErrorCode): CommandError => ({ code, message: `mock ${code}` });
const SAFETY_NUMBER = "052849163720184736509182736450918273645091827364501928374650";
/** Contacts marked verified in this session. */
const verified = new Set<string>();
const delay = <T>(value: T, ms = 120): Promise<T> => new Promise((r) => setTimeout(() => r(value), ms));

/** This account's devices: this one, a confirmed phone, and a laptop waiting to be confirmed. */
let thisConfirmed = !params.get("unconfirmed");
const held = new Set<string>(params.get("held") ? [params.get("held") ?? ""] : []);
const ownDeviceList = [
  { device_id: account.device_id, name: "Sotto on Linux", created_ts: now - 30 * DAY, has_keys: true, confirmed: true },
  { device_id: "PHONEXK2Q9", name: "Sotto on macOS", created_ts: now - 200 * DAY, has_keys: true, confirmed: true },
  { device_id: "LAPTOP7ZR4", name: "Sotto on Windows", created_ts: now - 2 * HOUR, has_keys: true, confirmed: false },
];
const verifications = new Map<string, VerificationView>();
const SAS = {
  emoji: [
    { symbol: "🐶", name: "Dog" },
    { symbol: "🔑", name: "Key" },
    { symbol: "🌵", name: "Cactus" },
    { symbol: "🎸", name: "Guitar" },
    { symbol: "⚓", name: "Anchor" },
    { symbol: "🍄", name: "Mushroom" },
    { symbol: "🚲", name: "Bicycle" },
  ],
  decimals: [4021, 1187, 6630] as [number, number, number],
};

function moveVerification(id: string, state: VerificationState, ms: number): void {
  setTimeout(() => {
    const v = verifications.get(id);
    if (!v || v.state.state === "cancelled" || v.state.state === "done") return;
    const next = { ...v, state };
    verifications.set(id, next);
    if (state.state === "done" && state.device_confirmed) {
      if (v.we_started) {
        const d = ownDeviceList.find((x) => x.device_id === v.device_id);
        if (d) d.confirmed = true;
      } else {
        thisConfirmed = true;
      }
    }
    emitClient({ type: "verification", verification: next });
  }, ms);
}

function startComparison(deviceId: string, weStarted: boolean): VerificationView {
  const view: VerificationView = { id: `ver${nextId++}`, user_id: ME, device_id: deviceId, we_started: weStarted, state: { state: "waiting" } };
  verifications.set(view.id, view);
  moveVerification(view.id, { state: "compare", sas: SAS, confirmed_here: false }, 1500);
  return view;
}

function signIn(request: SignInRequest): Promise<AppStatus> {
  if (request.user_id === "taken") return Promise.reject(fail("user_exists"));
  if (request.user_id === "nokeychain" && !request.passphrase) return Promise.reject(fail("keychain_unavailable"));
  account.user_id = request.user_id;
  account.server = request.server;
  status = { ...status, phase: "ready", account: { ...account }, locked: null };
  seed();
  return delay(status, 400);
}

function snippetFor(body: string, query: string): string {
  const i = body.toLowerCase().indexOf(query.toLowerCase());
  if (i < 0) return body;
  return `${body.slice(0, i)}\u0002${body.slice(i, i + query.length)}\u0003${body.slice(i + query.length)}`;
}

function replyLater(conversationId: ConversationId): void {
  const peer = directUserOf(conversationId) ?? "bob";
  setTimeout(() => emitClient({ type: "typing", conversation_id: conversationId, user_id: peer, typing: true }), 800);
  setTimeout(() => {
    const m = msg(conversationId, peer, "Got it 👍", Date.now());
    emitClient({ type: "message_received", message: m });
    const conv = refreshConversation(conversationId);
    if (conv) emitClient({ type: "conversation_updated", conversation: conv });
  }, 3000);
}

/** The members of a group conversation besides me. */
function groupOthers(conversationId: ConversationId): string[] {
  return (groups[groupIdOf(conversationId) ?? ""]?.members ?? []).map((x) => x.user_id).filter((u) => u !== ME);
}

/** A text of mine: queued, then sent (or failed, when it says "fail"), then bob answers. */
function mockSend(conversationId: ConversationId, body: string, extra: Partial<Message> = {}): Promise<Message> {
  const m = msg(conversationId, ME, body, Date.now(), { status: "queued", ...extra });
  setTimeout(() => {
    const done: Message = body.includes("fail")
      ? { ...m, status: "failed", reason: "offline" }
      : { ...m, status: "sent", server_ts: Date.now() };
    Object.assign(m, done);
    emitClient({ type: "status_changed", message: shown(m) });
    const conv = refreshConversation(conversationId);
    if (conv) emitClient({ type: "conversation_updated", conversation: conv });
    if (body.includes("fail")) return;
    replyLater(conversationId);
    // The recipients' devices get it, then they see it (in a group, one after the other).
    const others = directUserOf(conversationId) !== null ? [directUserOf(conversationId) ?? "bob"] : groupOthers(conversationId);
    setTimeout(() => receipt(m, others, false), 1200);
    others.forEach((u, i) => setTimeout(() => receipt(m, [u], true), 2500 + i * 1500));
  }, 700);
  return delay({ ...m }, 30);
}

const api = {
  appStatus: () => delay(status),
  checkServer: (url: string) => {
    if (!/^https?:\/\/\S+$/u.test(url)) return Promise.reject(fail("invalid_url"));
    if (url.includes("offline")) return Promise.reject(fail("offline"));
    return delay(url.replace(/\/+$/u, ""), 300);
  },
  startLocalServer: () => {
    const info = { url: "http://127.0.0.1:7878", port: 7878, network: null };
    status = { ...status, local_server: info };
    return delay(info, 500);
  },
  setLocalServerNetwork: (enabled: boolean) => {
    const network = enabled
      ? { urls: ["https://192.168.1.20:8449"], port: 8449, fingerprint: "3F:A2:".repeat(15) + "3F:A2" }
      : null;
    const info = { url: "http://127.0.0.1:7878", port: 7878, network };
    status = { ...status, local_server: info };
    emit("sotto://status", status);
    return delay(info, 300);
  },
  certificateProblem: () => delay(null),
  checkForUpdate: () => delay({ state: "not_configured" as const, current: "0.1.0" }, 400),
  installUpdate: () => delay(null),
  restartApp: () => delay(null),
  trustServerCertificate: () => delay(null),
  register: signIn,
  login: signIn,
  unlock: (passphrase: string) => {
    if (passphrase !== "correct horse") return Promise.reject(fail("wrong_passphrase"));
    status = { ...status, phase: "ready", account: { ...account }, locked: null };
    seed();
    return delay(status);
  },
  useAnotherAccount: () => {
    status = { ...status, phase: "welcome", account: null, locked: null };
    return delay(status);
  },
  signOut: () => {
    status = { ...status, phase: "welcome", account: null };
    return delay(status);
  },
  moveServer: (server: string, _fingerprint: string | null) => {
    if (server.includes("other")) return Promise.reject(fail("other_installation"));
    status = { ...status, account: status.account ? { ...status.account, server } : null };
    return delay(status);
  },
  changePassword: (current: string, newPassword: string) =>
    current === "wrong password"
      ? Promise.reject(fail("invalid_credentials"))
      : newPassword.length < 8
        ? Promise.reject(fail("invalid_input"))
        : delay(null, 600),
  resetIdentity: (password: string) => {
    if (password === "wrong password") return Promise.reject(fail("invalid_credentials"));
    thisConfirmed = true;
    for (const d of ownDeviceList) d.confirmed = d.device_id === account.device_id;
    return delay(null, 900);
  },
  resetKeys: (password: string) =>
    password === "wrong password"
      ? Promise.reject(fail("invalid_credentials"))
      : delay({ ed25519: "E".repeat(43), curve25519: "C".repeat(43), notified_devices: conversations.length }, 900),
  listConversations: () => delay(conversations.map((c) => ({ ...c }))),
  loadMessages: (conversationId: ConversationId, before: number | null, limit: number) => {
    const all = messages.filter((m) => m.conversation_id === conversationId && (before === null || m.id < before));
    return delay(all.slice(-limit).map(shown), before === null ? 80 : 500);
  },
  loadMessagesAfter: (conversationId: ConversationId, after: number, limit: number) =>
    delay(messages.filter((m) => m.conversation_id === conversationId && m.id > after).slice(0, limit).map(shown)),
  markRead: (conversationId: ConversationId) => {
    const conv = conversations.find((c) => c.id === conversationId);
    if (conv) {
      conv.unread = 0;
      conv.marked_unread = false;
    }
    return delay(null, 10);
  },
  setMuted: (conversationId: ConversationId, until: number | "forever" | null) =>
    control(conversationId, (c) => (c.muted_until = until === "forever" ? 9_223_372_036_854_775_807 : until)),
  setArchived: (conversationId: ConversationId, archived: boolean) => control(conversationId, (c) => (c.archived = archived)),
  setPinned: (conversationId: ConversationId, pinned: boolean) =>
    control(conversationId, (c) => {
      c.pinned = pinned;
      // Pinned ones first, in the order pinned (as the engine lists them).
      const at = conversations.indexOf(c);
      conversations.splice(at, 1);
      const lastPinned = conversations.reduce((n, x, i) => (x.pinned ? i + 1 : n), 0);
      conversations.splice(pinned ? lastPinned : conversations.length, 0, c);
    }),
  markUnread: (conversationId: ConversationId) => control(conversationId, (c) => (c.marked_unread = true)),
  setDraft: (conversationId: ConversationId, draft: string) => control(conversationId, (c) => (c.draft = draft)),
  deleteConversation: (conversationId: ConversationId) => {
    const at = conversations.findIndex((c) => c.id === conversationId);
    if (at < 0) return Promise.reject(fail("invalid_input"));
    conversations.splice(at, 1);
    for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.conversation_id === conversationId) messages.splice(i, 1);
    setTimeout(() => emitClient({ type: "conversation_removed", conversation_id: conversationId }), 20);
    return delay(null, 10);
  },
  setDisappearing: (conversationId: ConversationId, seconds: number | null) =>
    control(conversationId, (c) => (c.disappear_secs = seconds)),
  searchMessages: (query: string, limit: number) => {
    const q = query.toLowerCase();
    const hits: SearchHit[] = messages
      .filter((m) => m.kind === "text" && m.body.toLowerCase().includes(q))
      .reverse()
      .slice(0, limit)
      .map((m) => ({
        message: m,
        conversation_title: conversations.find((c) => c.id === m.conversation_id)?.title ?? m.conversation_id,
        snippet: snippetFor(m.body, query),
      }));
    return delay(hits, 60);
  },
  sendMessage: (conversationId: ConversationId, body: string) => mockSend(conversationId, body),
  retryMessage: (id: number) => {
    const m = messages.find((x) => x.id === id);
    if (!m) return Promise.reject(fail("invalid_input"));
    Object.assign(m, { status: "queued", reason: null });
    setTimeout(() => {
      Object.assign(m, { status: "sent" });
      emitClient({ type: "status_changed", message: { ...m } });
    }, 700);
    return delay({ ...m });
  },
  replyToMessage: (id: number, body: string) => {
    const target = actionTarget(id, false);
    if ("code" in target) return Promise.reject(target);
    return mockSend(target.conversation_id, body, { reply_to: quoteOf(target) });
  },
  reactToMessage: (id: number, emoji: string, remove: boolean) => {
    const target = actionTarget(id, false);
    if ("code" in target) return Promise.reject(target);
    const existing = target.reactions.find((r) => r.emoji === emoji);
    if (remove) {
      if (existing) existing.users = existing.users.filter((u) => u !== ME);
      target.reactions = target.reactions.filter((r) => r.users.length > 0);
    } else if (existing) {
      if (!existing.users.includes(ME)) existing.users.push(ME);
    } else {
      target.reactions.push({ emoji, users: [ME] });
    }
    return delay(changed(target), 20);
  },
  editMessage: (id: number, body: string) => {
    const target = actionTarget(id, true);
    if ("code" in target) return Promise.reject(target);
    if (!body.trim() && target.kind === "text") return Promise.reject(fail("invalid_input"));
    if (body === target.body) return delay({ ...target });
    const known = versions.get(id) ?? [{ body: target.body, ts: target.ts }];
    versions.set(id, [...known, { body, ts: Date.now() }]);
    target.body = body;
    target.edited = true;
    return delay(changed(target), 20);
  },
  deleteMessage: (id: number) => {
    const target = actionTarget(id, true);
    if ("code" in target) return Promise.reject(target);
    Object.assign(target, { body: "", file: null, reactions: [], edited: false, deleted: true });
    versions.delete(id);
    return delay(changed(target), 20);
  },
  messageVersions: (id: number) => delay(versions.get(id) ?? []),
  setTyping: () => delay(null, 10),
  sendFile: (conversationId: ConversationId, path: string, caption: string) =>
    mockUpload(conversationId, path.split("/").pop() ?? path, caption),
  sendPastedImage: (conversationId: ConversationId, data: string, caption: string) =>
    mockUpload(conversationId, "Pasted image.png", caption, Math.floor((data.length * 3) / 4)),
  clipboardImage: () => delay(null),
  filePreview: (path: string) =>
    delay({
      name: path.split("/").pop() ?? path,
      size: 48_213,
      image: /\.(jpe?g|png)$/.test(path) ? { width: 64, height: 64, url: mockPicture("A", "#be185d") } : null,
    }),
  downloadFile: (id: number) => {
    const m = messages.find((x) => x.id === id);
    if (!m?.file) return Promise.reject(fail("invalid_input"));
    m.file = { ...m.file, state: "local" };
    emitClient({ type: "status_changed", message: { ...m } });
    return delay({ ...m }, 600);
  },
  saveFile: (id: number) => delay(messages.find((x) => x.id === id)?.file?.size ?? 0, 300),
  fileThumbnail: () => delay(null),
  fileImage: () => Promise.reject(fail("offline")),
  cancelTransfer: () => delay(true),
  autoDownloadLimit: () => delay(autoDownload),
  setAutoDownloadLimit: (bytes: number) => {
    autoDownload = bytes;
    return delay(null);
  },
  getProfiles: () => delay(Object.values(profiles).map((p) => ({ ...p.profile }))),
  getProfile: (userId: string) => delay(profiles[userId] ? { ...profiles[userId].profile } : null),
  setProfile: (change: { name?: string | null; avatarPath?: string | null; removeAvatar?: boolean }) => {
    const name = change.name?.trim();
    if (name !== undefined && name.length > 64) return Promise.reject(fail("invalid_input"));
    const held = profiles[ME] ?? { profile: { user_id: ME, name: null, avatar: false, version: 0 }, picture: null };
    const picture = change.avatarPath ? mockPicture("A", "#be185d") : change.removeAvatar ? null : held.picture;
    const profile: ContactProfile = {
      user_id: ME,
      name: name === undefined ? held.profile.name : name || null,
      avatar: picture !== null,
      version: held.profile.version + 1,
    };
    profiles[ME] = { profile, picture };
    emitClient({ type: "profile_changed", profile: { ...profile } });
    return delay({ ...profile }, 400);
  },
  getAvatar: (userId: string) => delay(profiles[userId]?.picture ?? null),
  readReceipts: () => delay(readReceiptsOn),
  setReadReceipts: (on: boolean) => {
    readReceiptsOn = on;
    return delay(null);
  },
  startDirect: (userId: string) => {
    if (userId.startsWith("nobody")) return Promise.reject(fail("unknown_user"));
    const id = directConversationId(userId);
    let conv = conversations.find((c) => c.id === id);
    if (!conv) {
      conv = { id, kind: "direct", peer: userId, title: userId, last_ts: 0, last_preview: "", unread: 0, ...CONTROLS };
      conversations.push(conv);
    }
    return delay({ ...conv });
  },
  userDevices: (userId: string): Promise<DeviceSummary[]> =>
    delay(
      userId === ME
        ? ownDeviceList
            .filter((d) => d.device_id !== account.device_id)
            .map((d) => ({ user_id: ME, device_id: d.device_id, ed25519: "ed", curve25519: "cv", first_seen: d.created_ts, active: true, confirmed: d.confirmed }))
        : [
            { user_id: userId, device_id: "QWERTYUIOP", ed25519: "ed", curve25519: "cv", first_seen: now - 40 * DAY, active: true, confirmed: true },
            { user_id: userId, device_id: "ZXCVBNMLKJ", ed25519: "ed", curve25519: "cv", first_seen: now - 2 * DAY, active: true, confirmed: false },
            { user_id: userId, device_id: "ASDFGHJKLZ", ed25519: "ed", curve25519: "cv", first_seen: now - 200 * DAY, active: false, confirmed: true },
          ],
    ),
  verification: (userId: string) =>
    delay({ safety_number: SAFETY_NUMBER, verified: verified.has(userId), changed_since_verified: false }),
  setVerified: (userId: string, safetyNumber: string | null) => {
    if (safetyNumber === null) verified.delete(userId);
    else verified.add(userId);
    return delay({ safety_number: SAFETY_NUMBER, verified: safetyNumber !== null, changed_since_verified: false });
  },
  contactVerified: (userId: string) => delay(verified.has(userId)),
  isHeld: (userId: string) => delay(held.has(userId)),
  acceptIdentity: (userId: string) => {
    held.delete(userId);
    verified.delete(userId);
    return delay({ safety_number: SAFETY_NUMBER, verified: false, changed_since_verified: false });
  },
  ownDevices: () =>
    delay(ownDeviceList.map(({ device_id, name, created_ts, has_keys }) => ({ device_id, name, created_ts, has_keys }))),
  deleteDevice: (deviceId: DeviceId, password: string) => {
    if (password === "wrong password") return Promise.reject(fail("invalid_credentials"));
    const i = ownDeviceList.findIndex((d) => d.device_id === deviceId);
    if (i >= 0) ownDeviceList.splice(i, 1);
    return delay(null, 400);
  },
  thisDeviceConfirmed: () => delay(thisConfirmed),
  startDeviceConfirmation: (deviceId: DeviceId) =>
    thisConfirmed ? delay(startComparison(deviceId, true)) : Promise.reject(fail("not_confirmed")),
  verificationList: () => delay(Array.from(verifications.values())),
  startContactVerification: (userId: string) => {
    const view: VerificationView = {
      id: `ver${nextId++}`,
      user_id: userId,
      device_id: "THEIRPHONE",
      we_started: true,
      state: { state: "waiting" },
    };
    verifications.set(view.id, view);
    moveVerification(view.id, { state: "compare", sas: SAS, confirmed_here: false }, 1500);
    return delay(view);
  },
  acceptVerification: (id: string) => {
    const v = verifications.get(id);
    if (!v || v.state.state !== "requested") return Promise.reject(fail("no_verification"));
    const next: VerificationView = { ...v, state: { state: "waiting" } };
    verifications.set(id, next);
    moveVerification(id, { state: "compare", sas: SAS, confirmed_here: false }, 1000);
    return delay(next);
  },
  confirmVerification: (id: string) => {
    const v = verifications.get(id);
    if (!v || v.state.state !== "compare") return Promise.reject(fail("no_verification"));
    const next: VerificationView = { ...v, state: { ...v.state, confirmed_here: true } };
    verifications.set(id, next);
    // The other device confirms a little later.
    moveVerification(id, { state: "done", device_confirmed: v.user_id === ME }, 1500);
    return delay(next);
  },
  cancelVerification: (id: string, mismatch: boolean) => {
    const v = verifications.get(id);
    if (!v) return Promise.reject(fail("no_verification"));
    const next: VerificationView = { ...v, state: { state: "cancelled", reason: mismatch ? "mismatch" : "cancelled" } };
    verifications.set(id, next);
    emitClient({ type: "verification", verification: next });
    return delay(next);
  },
  createGroup: (name: string, members: string[]) => {
    const id = name.toLowerCase().replace(/\W+/gu, "-");
    const group: LocalGroup = {
      group_id: id,
      name,
      version: 1,
      joined: true,
      signed: true,
      members: [{ user_id: ME, role: "owner" }, ...members.map((u) => ({ user_id: u, role: "member" as const }))],
      invited: [],
    };
    groups[id] = group;
    conversations.push({ id: groupConversationId(id), kind: "group", peer: id, title: name, last_ts: 0, last_preview: "", unread: 0, ...CONTROLS });
    return delay(group);
  },
  groupDetails: (groupId: string) => {
    const g = groups[groupId];
    return g ? delay(structuredClone(g)) : Promise.reject(fail("not_member"));
  },
  addMembers: (groupId: string, userIds: string[]) => {
    const g = groups[groupId];
    if (!g) return Promise.reject(fail("not_member"));
    for (const u of userIds) if (!g.members.some((m) => m.user_id === u)) g.members.push({ user_id: u, role: "member" });
    return delay(structuredClone(g));
  },
  removeMember: (groupId: string, userId: string) => {
    const g = groups[groupId];
    if (!g) return Promise.reject(fail("not_member"));
    g.members = g.members.filter((m) => m.user_id !== userId);
    return delay(structuredClone(g));
  },
  acceptInvitation: (groupId: string) => {
    const g = groups[groupId];
    if (!g || !g.invited.includes(ME)) return Promise.reject(fail("not_invited"));
    g.invited = g.invited.filter((u) => u !== ME);
    g.members.push({ user_id: ME, role: "member" });
    g.joined = true;
    return delay(structuredClone(g));
  },
  declineInvitation: (groupId: string) => {
    const g = groups[groupId];
    if (!g || !g.invited.includes(ME)) return Promise.reject(fail("not_invited"));
    g.invited = g.invited.filter((u) => u !== ME);
    return delay(structuredClone(g));
  },
  renameGroup: (groupId: string, name: string) => {
    const g = groups[groupId];
    if (!g) return Promise.reject(fail("not_member"));
    if (!g.members.some((m) => m.user_id === ME && m.role !== "member")) return Promise.reject(fail("not_admin"));
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > 128) return Promise.reject(fail("invalid_input"));
    g.name = trimmed;
    g.version += 1;
    const c = conversations.find((x) => x.id === groupConversationId(groupId));
    if (c) {
      c.title = trimmed;
      emitClient({ type: "conversation_updated", conversation: { ...c } });
    }
    return delay(structuredClone(g));
  },
  setMemberRole: (groupId: string, userId: string, role: Role) => {
    const g = groups[groupId];
    if (!g) return Promise.reject(fail("not_member"));
    if (!g.members.some((m) => m.user_id === ME && m.role === "owner")) return Promise.reject(fail("not_admin"));
    if (userId === ME || !g.members.some((m) => m.user_id === userId)) return Promise.reject(fail("invalid_input"));
    g.members = g.members.map((m) =>
      m.user_id === userId ? { ...m, role } : m.user_id === ME && role === "owner" ? { ...m, role: "admin" as const } : m,
    );
    g.version += 1;
    return delay(structuredClone(g));
  },
  dismissGroup: (groupId: string) => {
    const g = groups[groupId];
    if (!g) return Promise.reject(fail("not_member"));
    if (!g.members.some((m) => m.user_id === ME && m.role === "owner")) return Promise.reject(fail("not_admin"));
    g.members = [];
    g.joined = false;
    g.version += 1;
    return delay(structuredClone(g));
  },
  leaveGroup: (groupId: string) => {
    const g = groups[groupId];
    if (g) {
      g.joined = false;
      g.members = g.members.filter((m) => m.user_id !== ME);
    }
    return delay(null);
  },
  getSettings: () => delay({ ...settings }),
  setSettings: (next: Settings) => {
    settings = { ...next };
    return delay({ ...settings });
  },
  quit: () => {
    window.close();
    return delay(null);
  },
  backupStatus: () => delay({ last_backup_ms: null }),
  choosePath: (purpose: PathPurpose, current: string) =>
    delay(
      purpose === "restore_file"
        ? `/home/${ME}/Documents/Sotto ${ME} 2026-11-01.sotto`
        : purpose === "profile_picture"
          ? `/home/${ME}/Pictures/me.jpg`
          : current || null,
      300,
    ),
  keyBackupStatus: () => delay({ ...keyBackup }),
  enableKeyBackup: (passphrase: string | null) => {
    keyBackup = { ...keyBackup, enabled: true, kind: passphrase ? "passphrase" : "recovery_key", version: 1, backed_up: keyBackup.sessions };
    return delay({ recovery_key: passphrase ? null : "SOTTO-7QKD 4MXA PZ2H 9RWT BFNC 3YJE LU6V 8GSK", status: { ...keyBackup } });
  },
  restoreKeyBackup: (_secret: { recoveryKey: string } | { passphrase: string }, onProgress: (p: Progress) => void) =>
    slowTask(4, onProgress, () => {
      const confirmed = !thisConfirmed;
      thisConfirmed = true;
      return { sessions: 4, imported: 4, groups: 3, messages: 37, undecryptable: 0, decrypted_pending: 0, confirmed };
    }),
  backupDefaults: () =>
    delay({
      backup_file: `/home/${ME}/Documents/Sotto ${ME} 2026-11-26.sotto`,
      export_folder: `/home/${ME}/Documents/Sotto ${ME} 2026-11-26 export`,
    }),
  exportBackup: (_path: string, _passphrase: string, onProgress: (p: Progress) => void) =>
    slowTask(400, onProgress, () => ({ records: 420, messages: messages.length, bytes: 184_320 })),
  exportReadable: (dir: string, _format: ExportFormat, _scope: ExportScope, onProgress: (p: Progress) => void) =>
    slowTask(messages.length, onProgress, () => ({ conversations: conversations.length, messages: messages.length, path: dir })),
  restoreBackup: (request: RestoreRequest, onProgress: (p: Progress) => void) =>
    slowTask(400, onProgress, () => {
      status = { ...status, phase: "ready", account: { ...account, user_id: request.user_id } };
      seed();
      return { ...status };
    }),
  onClientEvent: (handler: (event: ClientEvent) => void) => on("sotto://client", handler),
  onAppStatus: (handler: (s: AppStatus) => void) => on("sotto://status", handler),
  onOpenConversation: (handler: (id: ConversationId) => void) => on("sotto://open-conversation", handler),
  onFileDrop: (handler: (drop: FileDrop) => void) => on("sotto://file-drop", handler),
} satisfies typeof Real;

let autoDownload = 16 * 1024 * 1024;

/** A file message that uploads over about two seconds, then is sent. */
function mockUpload(conversationId: ConversationId, name: string, caption: string, size = 240_000): Promise<Message> {
  const m = msg(conversationId, ME, caption, Date.now(), { status: "queued" });
  m.kind = "file";
  m.file = { name, mime: "application/octet-stream", size, state: "uploading", image: null };
  let done = 0;
  const tick = () => {
    done = Math.min(size, done + size / 10);
    emitClient({ type: "file_progress", message_row: m.id, conversation_id: conversationId, direction: "upload", done, total: size });
    if (done < size) {
      setTimeout(tick, 200);
      return;
    }
    m.file = m.file ? { ...m.file, state: "local" } : null;
    m.status = "sent";
    m.server_ts = Date.now();
    emitClient({ type: "status_changed", message: { ...m } });
  };
  setTimeout(tick, 200);
  return delay({ ...m }, 30);
}

/** A task that counts to `total` over about two seconds and can be cancelled. */
function slowTask<T>(total: number, onProgress: (p: Progress) => void, finish: () => T): Real.RunningTask<T> {
  let cancelled = false;
  const result = new Promise<T>((resolve, reject) => {
    let done = 0;
    const tick = () => {
      if (cancelled) {
        reject({ code: "cancelled", message: "cancelled" } satisfies CommandError);
        return;
      }
      done = Math.min(total, done + Math.max(1, Math.ceil(total / 20)));
      onProgress({ done, total });
      if (done >= total) resolve(finish());
      else setTimeout(tick, 100);
    };
    setTimeout(tick, 100);
  });
  return {
    result,
    cancel: async () => {
      cancelled = true;
    },
  };
}

if (status.phase === "ready") seed();

/** For poking at the UI from the browser console: `sottoMock.emit({...})`. */
(window as unknown as { sottoMock: unknown }).sottoMock = {
  emit: emitClient,
  keyChange: (user = "bob") =>
    emitClient({ type: "contact_key_changed", user_id: user, device_id: "NEWDEVICE", change: "identity_changed", was_verified: false }),
  /** Another device of mine starts confirming this one (the dialog opens by itself). */
  incomingComparison: (device = "PHONEXK2Q9") =>
    emitClient({ type: "verification", verification: startComparison(device, false) }),
  typing: (conversation_id: ConversationId = directConversationId("bob"), user_id = "bob") => emitClient({ type: "typing", conversation_id, user_id, typing: true }),
  /** bob reacts to the newest message of the conversation with him. */
  react: (emoji = "🎉", user = "bob") => {
    const target = [...messages].reverse().find((m) => m.conversation_id === directConversationId(user) && !m.deleted && m.kind === "text");
    if (!target) return;
    const existing = target.reactions.find((r) => r.emoji === emoji);
    if (existing) existing.users.push(user);
    else target.reactions.push({ emoji, users: [user] });
    changed(target);
  },
};

export const {
  appStatus,
  checkServer,
  startLocalServer,
  setLocalServerNetwork,
  certificateProblem,
  trustServerCertificate,
  checkForUpdate,
  installUpdate,
  restartApp,
  register,
  login,
  unlock,
  useAnotherAccount,
  signOut,
  moveServer,
  changePassword,
  resetKeys,
  resetIdentity,
  listConversations,
  loadMessages,
  loadMessagesAfter,
  markRead,
  setMuted,
  setArchived,
  setPinned,
  markUnread,
  setDraft,
  deleteConversation,
  setDisappearing,
  searchMessages,
  sendMessage,
  retryMessage,
  replyToMessage,
  reactToMessage,
  editMessage,
  deleteMessage,
  messageVersions,
  setTyping,
  startDirect,
  userDevices,
  verification,
  setVerified,
  contactVerified,
  isHeld,
  acceptIdentity,
  ownDevices,
  deleteDevice,
  thisDeviceConfirmed,
  startDeviceConfirmation,
  verificationList,
  confirmVerification,
  startContactVerification,
  acceptVerification,
  cancelVerification,
  createGroup,
  groupDetails,
  addMembers,
  removeMember,
  leaveGroup,
  acceptInvitation,
  declineInvitation,
  renameGroup,
  setMemberRole,
  dismissGroup,
  getSettings,
  setSettings,
  quit,
  backupDefaults,
  backupStatus,
  choosePath,
  keyBackupStatus,
  enableKeyBackup,
  restoreKeyBackup,
  exportBackup,
  exportReadable,
  restoreBackup,
  onClientEvent,
  onAppStatus,
  sendFile,
  sendPastedImage,
  clipboardImage,
  filePreview,
  downloadFile,
  saveFile,
  fileThumbnail,
  fileImage,
  cancelTransfer,
  autoDownloadLimit,
  setAutoDownloadLimit,
  readReceipts,
  setReadReceipts,
  getProfiles,
  getProfile,
  setProfile,
  getAvatar,
  onFileDrop,
  onOpenConversation,
} = api;
export type { Unsubscribe } from "../lib/tauri";
