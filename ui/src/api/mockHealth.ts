// The sample office's Health tab (`?mock`): two matching machines, as the agents would describe
// them.

import type { MachineInventory } from "../generated/MachineInventory";
import type { OfficeHealth } from "../generated/OfficeHealth";
import type { Role } from "../generated/Role";

const GB = 1_000_000_000;

function machine(server_id: string, name: string, role: Role, now: number): MachineInventory {
  return {
    server_id,
    name,
    role,
    collected_unix: now - 40,
    agent_version: "0.2.0",
    api_version: 1,
    cpu: { state: "read", value: { model: "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz", cores: 4, threads: 4, sockets: 1 } },
    memory: { state: "read", value: { total_bytes: 16 * GB, swap_bytes: 2 * GB } },
    disks: {
      state: "read",
      value: [
        {
          name: "sda",
          model: "Samsung SSD 870 EVO 500GB",
          serial: null,
          size_bytes: 500 * GB,
          rotational: false,
          transport: "sata",
          smart: {
            state: "read",
            value: {
              passed: true,
              verdict: "good",
              reallocated_sectors: 0,
              pending_sectors: 0,
              uncorrectable_sectors: 0,
              nvme_critical_warning: null,
              nvme_media_errors: null,
              percentage_used: null,
              temperature_celsius: 31,
              power_on_hours: 9120,
              checked_unix: now - 1200,
            },
          },
        },
      ],
    },
    network: { state: "read", value: [{ name: "eno1", mac: null, state: "up", speed_mbps: 1000 }] },
    telephony: {
      cards: {
        state: "read",
        value: [
          {
            slot: "02:08.0",
            vendor_id: "d161",
            device_id: "8005",
            description: "Digium, Inc. Wildcard TE420 quad-span T1/E1/J1 card",
            kind: "pri",
          },
        ],
      },
      spans: {
        state: "read",
        value: [{ number: 1, name: "TE4/0/1", description: "T4XXP (PCI) Card 0 Span 1", alarms: [] }],
      },
      dahdi_loaded: true,
    },
    system: {
      state: "read",
      value: { os: "Debian GNU/Linux 12 (bookworm)", os_id: "debian", os_version: "12", kernel: "6.1.0-28-amd64", arch: "x86_64", hostname: name },
    },
    pbx: { state: "read", value: { text: "Asterisk 20.6.0", version: "20.6.0", major: 20 } },
    categories: {
      digest: "5d41402abc4b2a76b9719d911017c592",
      categories: ["config", "user-settings", "voicemail", "prompts", "recordings", "moh"].map((n, i) => ({
        name: n,
        priority: Math.min(i + 1, 4),
        roots: 1,
        include: [],
        exclude: [],
        database: n === "user-settings",
      })),
    },
    storage: {
      state: "read",
      value: [
        {
          category: "voicemail",
          index: 0,
          path: "/var/spool/asterisk/voicemail",
          data_bytes: 880e6,
          files: 214,
          filesystem: { mount: "/", total_bytes: 490 * GB, free_bytes: 402 * GB },
        },
      ],
    },
  };
}

/** Both sample servers, the primary's answer. */
export function mockHealth(servers: { id: string; name: string; role: Role }[], now: number): OfficeHealth {
  const [first, second] = servers;
  if (!first) return { health: null, from: null, unreadable: [] };
  return {
    from: first.name,
    unreadable: [],
    health: {
      this: machine(first.id, first.name, first.role, now),
      partner: second ? machine(second.id, second.name, second.role, now) : null,
      partner_note: second ? null : "This server has no partner yet.",
      differences: [],
      counts: { critical: 0, warning: 0, info: 0 },
    },
  };
}
