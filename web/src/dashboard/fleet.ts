// The dashboard's Fleet panel (a node started with `--nats`): one row per node of the
// fleet from `GET /api/fleet`, and a warning while the fleet's bus is unreachable.
// Without `--nats` (`nats: "off"`) it stays hidden and the dashboard is a single node's.
// Every server string goes in as text (`textContent`, `title`), never as markup.
import type { Fleet, FleetNode } from '../common/api';
import { age } from '../common/format';

/** A heartbeat older than this (they come every second) is shown as late. */
const LATE_MS = 2000;

const rows = new Map<string, HTMLTableRowElement>();

/** Shows `fleet` in the panel (`#fleet`), or hides the panel without a fleet. */
export function renderFleet(fleet: Fleet): void {
  const panel = document.getElementById('fleet')!;
  panel.hidden = fleet.nats === 'off';
  if (panel.hidden) return;
  const warning = document.getElementById('fleet-warning')!;
  warning.hidden = fleet.nats !== 'disconnected';
  setText(warning, warning.hidden ? '' : 'Fleet bus unreachable: showing this node only.');
  const wanted = fleet.nodes.map((n) => {
    const key = n.node ?? '';
    let tr = rows.get(key);
    if (!tr) rows.set(key, (tr = createRow()));
    updateRow(tr, n);
    return tr;
  });
  const shown = new Set(fleet.nodes.map((n) => n.node ?? ''));
  for (const key of rows.keys()) if (!shown.has(key)) rows.delete(key);
  const tbody = panel.querySelector('tbody')!;
  const current = [...tbody.children];
  if (current.length !== wanted.length || current.some((tr, i) => tr !== wanted[i])) tbody.replaceChildren(...wanted);
}

/** Cells: the node (a row header, with its badges), sessions, clients, CPU, heartbeat. */
function createRow(): HTMLTableRowElement {
  const tr = document.createElement('tr');
  const name = document.createElement('th');
  name.scope = 'row';
  name.append(document.createElement('span'), badge('this node', ''), badge('draining', 'badge-draining'));
  tr.append(name, ...Array.from({ length: 4 }, () => document.createElement('td')));
  return tr;
}

function badge(text: string, extra: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = `badge ${extra}`;
  span.textContent = text;
  return span;
}

function updateRow(tr: HTMLTableRowElement, n: FleetNode): void {
  const [name, sessions, clients, cpu, beat] = tr.cells;
  const [label, self, draining] = name.children as unknown as HTMLElement[];
  tr.dataset.node = n.node ?? '';
  setText(label, n.node ?? '(unnamed)');
  name.title = `${n.url ?? 'no advertised address'} · ringtty ${n.version} · up ${age(n.uptime_secs)}`;
  self.hidden = !n.self;
  draining.hidden = !n.draining;
  setText(sessions, String(n.sessions));
  setText(clients, String(n.clients));
  setText(cpu, n.cpu == null ? '–' : `${n.cpu < 10 ? n.cpu.toFixed(1) : Math.round(n.cpu)}%`);
  // This node's row is this answer itself: only the others have a heartbeat's age.
  setText(beat, n.age_ms == null ? '–' : `${(n.age_ms / 1000).toFixed(1)} s ago`);
  beat.classList.toggle('late', (n.age_ms ?? 0) >= LATE_MS);
}

export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
