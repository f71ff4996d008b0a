//! Group details (members, roles, whether I'm still in it), fetched on demand and refreshed on
//! membership events.

import * as ipc from "../lib/tauri";
import { Store } from "../lib/store";
import type { LocalGroup } from "../lib/types";

export type GroupState = Record<string, LocalGroup>;

export class GroupStore extends Store<GroupState> {
  private readonly inFlight = new Map<string, Promise<LocalGroup>>();

  constructor() {
    super({});
  }

  put(group: LocalGroup): void {
    this.set((s) => ({ ...s, [group.group_id]: group }));
  }

  /** Fetches the group unless it is already known. */
  async ensure(groupId: string): Promise<void> {
    if (this.get()[groupId]) return;
    await this.refresh(groupId);
  }

  /** Fetches the group again; concurrent calls share one request. */
  async refresh(groupId: string): Promise<void> {
    let request = this.inFlight.get(groupId);
    if (!request) {
      request = ipc.groupDetails(groupId);
      this.inFlight.set(groupId, request);
    }
    try {
      this.put(await request);
    } finally {
      this.inFlight.delete(groupId);
    }
  }
}
