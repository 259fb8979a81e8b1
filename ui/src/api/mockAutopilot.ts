// The autopilot half of the in-browser fake (`?mock&autopilot=STATE`): what the sample servers say
// of automatic failover, and lbs-console-core's words for the office, canned for a few states:
// `on` (the default), `off` (switched off by a person), `witness` (the witness out of reach),
// `paused` (the flap guard after an automatic failover), `notsetup`, `fenced` (the primary stopped
// its phones, cut off) and `old` (agents from before automatic failover). The rules live (and are
// tested) in Rust; these are only their answers for the sample.

import type { AutopilotDone } from "../generated/AutopilotDone";
import type { AutopilotNote } from "../generated/AutopilotNote";
import type { AutopilotStatus } from "../generated/AutopilotStatus";
import type { AutopilotSwitch } from "../generated/AutopilotSwitch";
import type { AutopilotView } from "../generated/AutopilotView";
import type { VoteMember } from "../generated/VoteMember";
import { CommandError } from "./errors";

export type PilotState = "on" | "off" | "witness" | "paused" | "notsetup" | "fenced" | "old";

const STATES: readonly PilotState[] = ["on", "off", "witness", "paused", "notsetup", "fenced", "old"];

export function pilotState(param: string | null): PilotState {
  return STATES.find((s) => s === param) ?? "on";
}

const SETTINGS = { lease_secs: 10, takeover_secs: 11, prefer_service: false, caught_up_within_secs: 60, flap_guard_secs: 3600 };

const SET_UP =
  'Your IT contractor sets it up: a small always-on machine of the office as the witness (a NAS, a Raspberry Pi, a virtual machine), then `lbs-agent witness setup` on each server, as docs/failover.md describes ("Setting up automatic failover").';
const MANUAL =
  "If the primary fails meanwhile, fail over from this console with the failover wizard: it works without the autopilot.";

/** The sample pair's autopilot: its state, changed by the switch. */
export function mockAutopilot(initial: PilotState, names: () => { primary: string; backup: string }) {
  const now = () => Math.floor(Date.now() / 1000);
  const start = now();
  const state = initial;
  // `null`: nobody switched it since it was set up (on, as configured).
  let sw: AutopilotSwitch | null =
    state === "off"
      ? { on: false, at_unix_ms: (start - 25 * 60) * 1000, by: "Sam", reason: "moving the witness to the new rack" }
      : null;
  const isOn = () => sw?.on ?? true;
  const clock = (t: number) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const witnessLost = () => state === "witness";
  const lostSince = start - 17 * 60;

  /** The vote as the primary (`fromPrimary`) or the backup reaches it. */
  const members = (fromPrimary: boolean): VoteMember[] => {
    const { primary, backup } = names();
    const m = (name: string, host: string, reachable: boolean): VoteMember => ({
      name,
      endpoint: `https://${host}:2379`,
      reachable,
      unreachable_since_unix: reachable ? null : lostSince,
      problem: reachable ? null : "connection refused",
    });
    if (state === "fenced") {
      // The primary is cut off from both; the backup still reaches the witness.
      return [m(primary, "192.0.2.10", fromPrimary), m(backup, "192.0.2.11", !fromPrimary), m("witness", "192.0.2.5", !fromPrimary)];
    }
    return [m(primary, "192.0.2.10", true), m(backup, "192.0.2.11", true), m("witness", "192.0.2.5", state !== "witness")];
  };

  /** What one sample server says (`null`: an agent from before automatic failover). */
  const status = (primary: boolean): AutopilotStatus | null => {
    if (state === "old") return null;
    if (state === "notsetup") {
      return {
        configured: false,
        switch: null,
        armed: false,
        blockers: [{ kind: "not_set_up", since_unix: null, until_unix: null, message: "Automatic failover is not set up on this server." }],
        members: [],
        held: null,
        quorum: false,
        leader: null,
        last_automatic: null,
        fenced: null,
        settings: SETTINGS,
        summary: "Not on autopilot: automatic failover is not set up.",
      };
    }
    const blockers: AutopilotStatus["blockers"] = [];
    if (!isOn()) blockers.push({ kind: "switched_off", since_unix: null, until_unix: null, message: `Sam switched automatic failover off.` });
    if (state === "paused") {
      blockers.push({
        kind: "flap_guard",
        since_unix: start - 20 * 60,
        until_unix: start + 40 * 60,
        message: "An automatic failover happened recently: the next one waits, so that a failing server cannot bounce the phones back and forth.",
      });
    }
    const armed = blockers.length === 0;
    // A warning after the reasons: two of three members still decide, so it stays armed.
    if (witnessLost()) {
      blockers.push({
        kind: "witness_unreachable",
        since_unix: lostSince,
        until_unix: null,
        message: "The witness does not answer. Automatic failover still works, but one more lost box would stop it: check the witness machine.",
      });
    }
    const { primary: p, backup: b } = names();
    return {
      configured: true,
      switch: sw,
      held: null,
      armed,
      blockers,
      members: members(primary),
      quorum: true,
      leader: p,
      last_automatic: state === "paused" ? { at_unix: start - 20 * 60, by: p, epoch: 3 } : null,
      fenced:
        state === "fenced" && primary
          ? { since_unix: start - 70, message: `It could reach neither ${b} nor the witness, so it stopped answering the phones before ${b} could take them over.` }
          : null,
      settings: SETTINGS,
      summary: armed ? `On autopilot: if ${p} fails, ${b} takes over by itself within about 11 s.` : "Not on autopilot.",
    };
  };

  /** lbs-console-core's words for the office, canned. */
  const view = (anyAnswers: boolean, primaryAnswers: boolean, adminThrough: string | null): AutopilotView => {
    const { primary: p, backup: b } = names();
    const none: AutopilotView = {
      level: "unknown",
      word: "Not known",
      headline: "Autopilot: not known",
      text: `neither ${p} nor ${b} answers this console.`,
      next: null,
      notes: [],
      cause: null,
      warnings: [],
      vote: null,
      offer: null,
    };
    if (!anyAnswers) return none;
    if (state === "old") {
      return { ...none, level: "not_set_up", word: "Not available", headline: "Autopilot: not available", text: `${p} (0.1.0) and ${b} (0.1.0) run an agent from before automatic failover.`, next: `Ask your IT contractor to upgrade the agents (the backup first, as docs/agent.md describes) and then to set up the witness. ${MANUAL}` };
    }
    if (state === "notsetup") {
      return { ...none, level: "not_set_up", word: "Not set up", headline: "Autopilot: not set up", text: "if the primary fails, a person fails over from this console.", next: `${SET_UP} ${MANUAL}` };
    }
    const trouble = witnessLost() || state === "fenced";
    const [fromA, fromB] = [members(true), members(false)];
    const vote = {
      summary:
        state === "fenced"
          ? `The vote on ${b} is out of reach of ${p}. The witness is out of reach of ${p}. The vote on ${p} is out of reach of ${b}.`
          : trouble
            ? `The witness is out of reach of ${p} and ${b}.`
            : `Every member of the vote answers ${p} and ${b}.`,
      trouble,
      seen_from: [p, b],
      members: fromA.map((m, i) => ({
        name: m.name === "witness" ? "Witness" : m.name,
        endpoint: m.endpoint,
        sights: [m, fromB[i] ?? m].map((x) => ({
          reachable: x.reachable,
          text: x.reachable ? "Answers" : `Out of reach since ${clock(lostSince)}: connection refused`,
        })),
      })),
    };
    const notes = [
      sw === null
        ? "On since it was set up (the servers' configuration)."
        : `Switched ${sw.on ? "on" : "off"} by ${sw.by} at ${clock(sw.at_unix_ms / 1000)}${sw.reason ? `: ${sw.reason}` : ""}.`,
    ];
    if (state === "paused") notes.push(`Last automatic failover: ${p} took over at ${clock(start - 20 * 60)}.`);
    const offer = {
      on: isOn(),
      label: isOn() ? "Switch off…" : "Switch on…",
      through: adminThrough,
      blocked: adminThrough
        ? null
        : 'Switching automatic failover needs an administrator\'s access token; this console\'s tokens for this office are view-only. Create one on a server with `lbs-agent token create --role admin` and enter it with "New access token…" on its card.',
      explanation: [
        `If ${p} goes silent — its agent, its phone system and its network — ${b} makes itself the primary within about 11 s and the phones move to it, with nobody at the console.`,
        `If only ${p}'s agent is silent while its phone system still answers, nothing moves: you are alerted.`,
        "The witness must agree, so the two servers never both answer the phones. Without the witness the phones keep working; only the autopilot pauses.",
        `It takes over only if ${b} was up to date (less than 1 min behind), and at most once in 1 h.`,
        `It never switches back by itself: a repaired ${p} rejoins as the backup, and you switch back with the wizard when it suits the office.`,
        "The failover wizard and maintenance work whether it is on or off.",
      ],
      not_armed_yet: null,
      by: "Sam",
    };
    const warnings: AutopilotView["warnings"] = witnessLost() ? ["witness_unreachable"] : [];
    const base = { notes, vote, offer, cause: null, next: null, warnings };
    if (state === "fenced") {
      return {
        ...base,
        level: "alarm",
        word: "Phones stopped",
        headline: `${p} stopped its phone system at ${clock(start - 70)}`,
        text: `It could reach neither ${b} nor the witness, so it stopped answering the phones before ${b} could take them over.`,
        next: null,
      };
    }
    if (!isOn()) {
      return { ...base, level: "off", word: "Off", headline: "Autopilot: off", text: "Sam switched automatic failover off.", next: `Switch it on when the pair may fail over by itself again. ${MANUAL}`, cause: "switched_off" };
    }
    if (state === "witness") {
      return {
        ...base,
        level: "on",
        word: "On",
        headline: "Autopilot: on",
        text: `if ${p} fails, ${b} takes over by itself (about 11 s).`,
        next: `The witness has not answered since ${clock(lostSince)}: automatic failover still works, but one more lost server would stop it. Check that the witness machine is on and connected.`,
      };
    }
    if (state === "paused") {
      return {
        ...base,
        level: "off",
        word: "Paused",
        headline: `Autopilot: paused until ${clock(start + 40 * 60)}`,
        text: "An automatic failover happened recently: the next one waits, so that a failing server cannot bounce the phones back and forth.",
        next: `It is back by itself then. ${MANUAL}`,
        cause: "flap_guard",
      };
    }
    if (!primaryAnswers) {
      // Only the backup answers: what it sees.
      return {
        ...base,
        // The backup no longer reaches the primary's member of the vote; the witness still answers.
        vote: {
          summary: `The vote on ${p} is out of reach of ${b}.`,
          trouble: true,
          seen_from: [b],
          members: vote.members.map((m) => ({
            ...m,
            sights: [m.name === p ? { reachable: false, text: `Out of reach since ${clock(now() - 8)}: connection refused` } : { reachable: true, text: "Answers" }],
          })),
        },
        level: "on",
        word: "On",
        headline: "Autopilot: on",
        text: `${p} does not answer this console; if it is down, ${b} takes over by itself (about 11 s).`,
      };
    }
    return { ...base, level: "on", word: "On", headline: "Autopilot: on", text: `if ${p} fails, ${b} takes over by itself (about 11 s).` };
  };

  /** The wizard's word when the primary is silent. */
  const note = (): AutopilotNote | null => {
    if (state === "notsetup" || state === "old") return null;
    const { primary: p, backup: b } = names();
    const adds = `The wizard does not wait, and it goes ahead where automatic failover holds back (${p}'s phone system still answering while its agent does not, or ${b} behind), on your word that ${p} is switched off.`;
    // The witness lost leaves it armed: two of three members still decide.
    if (isOn() && (state === "on" || state === "witness")) {
      return {
        waiting: true,
        title: `${b} takes over by itself shortly`,
        text: `Automatic failover is on: once ${p} has been silent for about 11 s and its phone system does not answer either, ${b} makes itself the primary. You can wait and watch this office's state. ${adds}`,
      };
    }
    return {
      waiting: false,
      title: "Automatic failover will not step in",
      text: `${isOn() ? "An automatic failover happened recently: the next one waits, so that a failing server cannot bounce the phones back and forth." : "Sam switched automatic failover off."} Failing over here is the way to bring the phones back now.`,
    };
  };

  const set = (on: boolean, reason: string | null, by: string | null): AutopilotDone => {
    const { primary: p, backup: b } = names();
    if (state === "notsetup" || state === "old") {
      throw new CommandError("refused", `${p} refused: automatic failover is not set up on this server.`);
    }
    if (!on && !reason?.trim()) {
      throw new CommandError("invalid_input", "Say why you switch automatic failover off, in a few words.");
    }
    const changed = isOn() !== on;
    if (changed) sw = { on, at_unix_ms: Date.now(), by: by ?? "this console", reason: reason?.trim() || null };
    const word = on ? "on" : "off";
    const message = !changed
      ? `Automatic failover was already ${word}.`
      : on
        ? `Automatic failover is on for ${p} and ${b}.`
        : `Automatic failover is off for ${p} and ${b}. If the primary fails, fail over with the failover wizard.`;
    return { on, message, partner_not_told: false };
  };

  return { status, view, note, set, fenced: () => state === "fenced", armed: () => isOn() && (state === "on" || state === "witness") };
}
