//! One signed-in session: the per-domain stores, the actions that span several of them (open a
//! conversation, jump to a search hit, send), and the one place engine events are applied.
//! A new Session is made for each sign-in, so nothing leaks from one account to the next.

import * as ipc from "../lib/tauri";
import { asCommandError } from "../lib/errors";
import { LIST_LOADED, markOnce } from "../lib/perf";
import { directConversationId, directUserOf, groupConversationId, groupIdOf } from "../lib/ids";
import type { ClientEvent, ContactProfile, Conversation, ConversationId, Message, SearchHit } from "../lib/types";
import type { AppStore } from "./appStore";
import { ConversationStore, TYPING_TTL_MS } from "./conversationStore";
import { DeviceStore } from "./deviceStore";
import { GroupStore } from "./groupStore";
import { MessageStore } from "./messageStore";
import { displayName, ProfileStore } from "./profileStore";
import { TransferStore, type PendingFile } from "./transferStore";
import { UiStore } from "./uiStore";

export interface SessionOptions {
  /** Whether the window is shown and has focus (incoming messages are only marked read if so). */
  isWindowFocused?: () => boolean;
  now?: () => number;
}

export class Session {
  readonly conversations = new ConversationStore();
  readonly messages = new MessageStore();
  readonly groups = new GroupStore();
  readonly profiles = new ProfileStore();
  readonly devices = new DeviceStore();
  readonly transfers = new TransferStore();
  readonly ui = new UiStore();
  private readonly isWindowFocused: () => boolean;
  private readonly now: () => number;
  private readonly markingRead = new Set<ConversationId>();
  private prefetching = false;

  constructor(
    readonly app: AppStore,
    options: SessionOptions = {},
  ) {
    // A message counts as read (and its sender is told) only while someone can see it: the window
    // shown and focused, not hidden in the tray or behind another one.
    this.isWindowFocused = options.isWindowFocused ?? (() => document.visibilityState !== "hidden" && document.hasFocus());
    this.now = options.now ?? (() => Date.now());
    const first = app.takeFirstList();
    if (first) {
      this.conversations.setAll(first);
      markOnce(LIST_LOADED);
    }
  }

  /** The signed-in user's id ("" before the status is known). */
  get ownUserId(): string {
    return this.app.get().status?.account?.user_id ?? "";
  }

  async loadConversations(): Promise<void> {
    try {
      this.conversations.setAll(await ipc.listConversations());
      markOnce(LIST_LOADED);
    } catch (error) {
      this.conversations.setLoadError(asCommandError(error));
    }
  }

  /** Reads every known profile (names and whether there are pictures). */
  async loadProfiles(): Promise<void> {
    await this.profiles.load().catch(() => undefined);
  }

  /**
   * Changes my name and/or picture (see `ipc.setProfile`); the profile store has it at once.
   * Rejects with the engine's error (offline, a picture that can't be used, a name too long).
   */
  async setProfile(change: Parameters<typeof ipc.setProfile>[0]): Promise<ContactProfile> {
    const profile = await ipc.setProfile(change);
    this.profiles.apply(profile);
    return profile;
  }

  /** The conversation with my own user id: Note to self (it exists once it has a message). */
  get noteToSelfId(): ConversationId {
    return directConversationId(this.ownUserId);
  }

  openNoteToSelf(): void {
    this.openConversation(this.noteToSelfId);
  }

  /**
   * Whether this device is confirmed (the banner), and the comparisons already running (one the
   * other device started before this window listened is shown).
   */
  async loadDeviceState(): Promise<void> {
    const [confirmed, verifications] = await Promise.all([
      ipc.thisDeviceConfirmed().catch(() => null),
      ipc.verificationList().catch(() => []),
    ]);
    if (confirmed !== null) this.devices.setThisConfirmed(confirmed);
    this.devices.applyAll(verifications);
  }

  /** Reads again whether this device is confirmed (after a restore or starting over). */
  async refreshThisDevice(): Promise<void> {
    try {
      this.devices.setThisConfirmed(await ipc.thisDeviceConfirmed());
    } catch {
      // Kept as it was; the next start asks again.
    }
  }

  /**
   * Loads the newest page of these conversations (the rows on screen at start, and just below),
   * one after the other, so opening one of them renders from memory. Once per session; a
   * conversation that is already loaded (or loading) is skipped, and a click on another one is
   * not held up, since the commands run concurrently.
   */
  prefetch(ids: readonly ConversationId[]): void {
    if (this.prefetching) return;
    this.prefetching = true;
    void (async () => {
      for (const id of ids) await this.messages.ensureLoaded(id);
    })();
  }

  openConversation(id: ConversationId): void {
    this.noteUnread(id);
    this.conversations.select(id);
    void this.messages.ensureLoaded(id);
    const groupId = groupIdOf(id);
    if (groupId) void this.groups.ensure(groupId).catch(() => undefined);
    this.markRead(id);
  }

  closeConversation(): void {
    this.ui.setUnread(null, 0);
    this.conversations.select(null);
  }

  /** Opens the hit's conversation with a window of messages around it, highlighted. */
  jumpTo(hit: SearchHit): void {
    const id = hit.message.conversation_id;
    // A search hit is shown in a window around it, not from the first unread message.
    if (this.conversations.get().selectedId !== id) this.ui.setUnread(null, 0);
    this.conversations.select(id);
    void this.messages.jumpTo(hit.message);
    const groupId = groupIdOf(id);
    if (groupId) void this.groups.ensure(groupId).catch(() => undefined);
    this.markRead(id);
  }

  /**
   * Where the open conversation's "New messages" line goes: its unread count as it is opened,
   * before it is marked read. Opening the conversation that is already open keeps the line.
   */
  private noteUnread(id: ConversationId): void {
    if (this.conversations.get().selectedId === id) return;
    this.ui.setUnread(id, this.conversations.find(id)?.unread ?? 0);
  }

  /** Moves the selection by `delta` rows in the list order (Alt+Up/Down). */
  moveSelection(delta: number): void {
    const { list: all, selectedId } = this.conversations.get();
    // Within the list shown: archived ones among themselves, the others among themselves.
    const archived = all.find((c) => c.id === selectedId)?.archived ?? false;
    const list = all.filter((c) => c.archived === archived);
    if (list.length === 0) return;
    const index = list.findIndex((c) => c.id === selectedId);
    const next = index < 0 ? (delta > 0 ? 0 : list.length - 1) : index + delta;
    const target = list[Math.max(0, Math.min(list.length - 1, next))];
    if (target && target.id !== selectedId) this.openConversation(target.id);
  }

  /** Adds a conversation the engine just created, so it can be opened before its update event. */
  adoptConversation(conversation: Conversation): void {
    this.conversations.addIfMissing(conversation);
  }

  /** Tells the engine the conversation is read; skipped when the list already says so, unless
   * `force` (a message just arrived that the list's count doesn't include yet). */
  markRead(id: ConversationId, force = false): void {
    const conversation = this.conversations.find(id);
    if (!force && conversation && conversation.unread === 0 && !conversation.marked_unread) return;
    if (this.markingRead.has(id)) return;
    this.markingRead.add(id);
    this.conversations.clearUnread(id);
    ipc
      .markRead(id)
      .catch(() => undefined)
      .finally(() => this.markingRead.delete(id));
  }

  /** Pin or unpin (the engine's `conversation_updated` moves the row). */
  setPinned(id: ConversationId, pinned: boolean): Promise<null> {
    return ipc.setPinned(id, pinned);
  }

  /** Mute until a time (ms since the epoch), for good, or unmute (null). */
  setMuted(id: ConversationId, until: number | "forever" | null): Promise<null> {
    return ipc.setMuted(id, until);
  }

  setArchived(id: ConversationId, archived: boolean): Promise<null> {
    return ipc.setArchived(id, archived);
  }

  markUnread(id: ConversationId): Promise<null> {
    return ipc.markUnread(id);
  }

  /** Deletes the conversation from this device; `conversation_removed` takes it off the list. */
  async deleteConversation(id: ConversationId): Promise<void> {
    await ipc.deleteConversation(id);
    this.conversations.remove(id);
  }

  /**
   * Keeps the composer's text in the engine (across restarts) and in the list's copy of the
   * conversation, which the engine does not announce: the row shows "Draft: …" at once.
   */
  async saveDraft(id: ConversationId, draft: string): Promise<void> {
    const known = this.conversations.find(id);
    if (!known || known.draft === draft) return;
    this.conversations.upsert({ ...known, draft });
    await ipc.setDraft(id, draft);
  }

  /** The disappearing-messages timer for everyone in the conversation (null: off). */
  setDisappearing(id: ConversationId, seconds: number | null): Promise<null> {
    return ipc.setDisappearing(id, seconds);
  }

  /** The window got focus: read what arrived in the open conversation meanwhile. */
  windowFocused(): void {
    const { selectedId } = this.conversations.get();
    if (selectedId) this.markRead(selectedId);
  }

  async send(conversationId: ConversationId, body: string): Promise<Message> {
    const since = this.messages.mark();
    const message = await ipc.sendMessage(conversationId, body);
    this.messages.applyResult(message, since);
    return message;
  }

  /**
   * Sends each file (the caption goes with the first). Each returns at once, queued; the upload's
   * progress and outcome follow as events. Stops at the first refusal, which it throws.
   */
  async sendFiles(conversationId: ConversationId, files: PendingFile[], caption: string): Promise<void> {
    for (const [i, file] of files.entries()) {
      const text = i === 0 ? caption : "";
      const since = this.messages.mark();
      const message =
        file.kind === "path"
          ? await ipc.sendFile(conversationId, file.path, text)
          : await ipc.sendPastedImage(conversationId, file.base64, text);
      this.messages.applyResult(message, since);
    }
  }

  /** Fetches a message's file into the profile; its progress shows meanwhile. */
  async download(id: number): Promise<void> {
    const since = this.messages.mark();
    try {
      const message = await ipc.downloadFile(id);
      this.messages.applyResult(message, since);
    } finally {
      this.transfers.ended(id);
    }
  }

  /** Stops a message's upload (it then fails as `cancelled`) or download. */
  async cancelTransfer(id: number): Promise<void> {
    await ipc.cancelTransfer(id);
  }

  async retry(id: number): Promise<void> {
    const since = this.messages.mark();
    const message = await ipc.retryMessage(id);
    this.messages.applyResult(message, since);
  }

  /** Answers the message `id` with `body`; the reply is queued like any text. */
  async reply(id: number, body: string): Promise<Message> {
    const since = this.messages.mark();
    const message = await ipc.replyToMessage(id, body);
    this.messages.applyResult(message, since);
    return message;
  }

  /** Adds my reaction `emoji` to the message `id`, or takes it back (`remove`). */
  async react(id: number, emoji: string, remove: boolean): Promise<void> {
    const since = this.messages.mark();
    const message = await ipc.reactToMessage(id, emoji, remove);
    this.messages.applyResult(message, since);
  }

  /** Changes the text (a file's caption) of my message `id` for everyone. */
  async edit(id: number, body: string): Promise<void> {
    const since = this.messages.mark();
    const message = await ipc.editMessage(id, body);
    this.messages.applyResult(message, since);
  }

  /** Deletes my message `id` for everyone: it becomes a tombstone. */
  async deleteForEveryone(id: number): Promise<void> {
    const since = this.messages.mark();
    const message = await ipc.deleteMessage(id);
    this.messages.applyResult(message, since);
    // A reply or edit of it that was being written has nothing left to answer or change.
    const target = this.ui.get().compose[message.conversation_id];
    if (target?.message.id === id) this.ui.endCompose(message.conversation_id);
  }

  /**
   * Turns read receipts on or off (off: none are sent and nobody's are shown), then reads the
   * loaded messages again so their ticks say what the engine now shows.
   */
  async setReadReceipts(on: boolean): Promise<void> {
    await ipc.setReadReceipts(on);
    await this.messages.refreshLoaded().catch(() => undefined);
  }

  private readIfOpen(conversationId: ConversationId, force = false): void {
    if (this.conversations.get().selectedId === conversationId && this.isWindowFocused()) {
      this.markRead(conversationId, force);
    }
  }

  handleEvent(event: ClientEvent): void {
    switch (event.type) {
      case "message_received": {
        const m = event.message;
        this.messages.add(m);
        // A conversation its first message made (Note to self has no "start"): the list is read
        // again, since the engine announces no conversation for it.
        if (!this.conversations.find(m.conversation_id)) void this.loadConversations();
        this.conversations.setTyping(m.conversation_id, m.sender_user, false, 0);
        if (!m.outgoing) this.readIfOpen(m.conversation_id, true);
        if (!m.outgoing && m.kind !== "system") this.announce(m);
        break;
      }
      case "status_changed":
        this.transfers.ended(event.message.id);
        this.messages.changed(event.message);
        this.noteHeld(event.message);
        break;
      case "message_changed":
        // Edited, deleted for everyone, its reactions or receipts changed: replaced in place.
        this.messages.changed(event.message);
        break;
      case "message_removed":
        this.messages.removed(event.conversation_id, event.message_row);
        break;
      case "conversation_removed":
        this.conversations.remove(event.conversation_id);
        break;
      case "conversation_updated":
        this.conversations.upsert(event.conversation);
        if (event.conversation.unread > 0) this.readIfOpen(event.conversation.id);
        break;
      case "membership_changed":
        if (this.groups.get()[event.group_id] || this.isOpen(groupConversationId(event.group_id))) {
          void this.groups.refresh(event.group_id).catch(() => undefined);
        }
        break;
      case "contact_key_changed":
        // My own devices: the devices list reloads; there is no chat with myself to warn in.
        if (event.user_id === this.ownUserId) {
          this.devices.devicesChanged();
          break;
        }
        this.conversations.addKeyNotice(event.user_id, {
          deviceId: event.device_id,
          change: event.change,
          wasVerified: event.was_verified,
        });
        break;
      case "connection_changed":
        this.app.setConnection(event.state);
        break;
      case "verification": {
        const v = event.verification;
        this.devices.apply(v);
        // A contact verified by comparing emoji: marked verified (and no longer held).
        if (v.user_id !== this.ownUserId && v.state.state === "done") {
          this.conversations.setVerified(v.user_id, true);
          this.conversations.setHeld(v.user_id, false);
          this.devices.devicesChanged();
        }
        break;
      }
      case "file_progress":
        this.transfers.progress(event.message_row, {
          direction: event.direction,
          done: event.done,
          total: event.total,
        });
        break;
      case "profile_changed":
        this.profiles.apply(event.profile);
        break;
      case "typing": {
        if (event.user_id === this.ownUserId) break;
        const expiresAt = this.now() + TYPING_TTL_MS;
        this.conversations.setTyping(event.conversation_id, event.user_id, event.typing, expiresAt);
        if (event.typing) {
          setTimeout(
            () => this.conversations.expireTyping(event.conversation_id, event.user_id, expiresAt),
            TYPING_TTL_MS,
          );
        }
        break;
      }
    }
  }

  /** A send that failed because the contact is held: the chat shows why, with a way out. */
  private noteHeld(m: Message): void {
    if (m.status !== "failed" || m.reason !== "identity_changed_held") return;
    const peer = directUserOf(m.conversation_id);
    if (peer) this.conversations.setHeld(peer, true);
  }

  private isOpen(conversationId: ConversationId): boolean {
    return this.conversations.get().selectedId === conversationId;
  }

  private announce(m: Message): void {
    const conversation = this.conversations.find(m.conversation_id);
    const where = conversation && conversation.kind === "group" ? ` in ${conversation.title}` : "";
    const who = displayName(this.profiles.get(), m.sender_user);
    const text =
      m.kind === "undecryptable"
        ? "a message that can't be decrypted yet"
        : m.kind === "file" && m.file
          ? m.body || (m.file.image ? "a photo" : `a file, ${m.file.name}`)
          : m.body;
    this.ui.announce(`${who}${where}: ${text}`);
  }
}
