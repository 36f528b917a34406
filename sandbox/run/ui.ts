// The live view: a frame redrawn about twice a second on a terminal (nodes with their instance,
// FleetIQ status, drain phase and game servers; sessions; drains; recent events; progress), or one
// plain summary line every few seconds when the output is not a terminal. Rendering is pure
// (renderFrame, formatLogLine); startLiveView only writes frames.
import { formatClock } from './report.js';
import type { NodeRow, SandboxView } from './sandbox.js';

export interface FrameOptions {
  width: number;
  height: number;
  color: boolean;
  /** Lines shown under the frame (e.g. kubectl hints). */
  footer?: string[];
}

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  blue: '\x1b[34m',
  magenta: '\x1b[35m',
  cyan: '\x1b[36m',
  gray: '\x1b[90m',
} as const;

type Paint = (style: keyof typeof ANSI, text: string) => string;

function painter(color: boolean): Paint {
  return (style, text) => (color ? `${ANSI[style]}${text}${ANSI.reset}` : text);
}

const PHASE_STYLE: Record<string, keyof typeof ANSI> = {
  Active: 'green',
  Cordoned: 'yellow',
  Fenced: 'yellow',
  Tainted: 'magenta',
  SpotEvicting: 'red',
  Drained: 'gray',
  Deregistered: 'gray',
};

const STATUS_STYLE: Record<string, keyof typeof ANSI> = {
  ACTIVE: 'green',
  DRAINING: 'yellow',
  SPOT_TERMINATING: 'red',
};

/** Pads/cuts to exactly `n` visible characters (before colouring). */
function cell(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, Math.max(0, n - 1))}…` : text.padEnd(n);
}

function progressBar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

/** Draining nodes first (they are what there is to see), then by name. */
export function orderNodes(nodes: NodeRow[]): NodeRow[] {
  const rank = (n: NodeRow) => (n.phase !== 'Active' ? 0 : n.fleetiqStatus !== 'ACTIVE' ? 1 : 2);
  return [...nodes].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;
}

export function renderFrame(v: SandboxView, o: FrameOptions): string {
  const p = painter(o.color);
  const width = Math.max(60, o.width);
  const lines: string[] = [];
  const phaseText =
    v.phase === 'load'
      ? `load ${formatClock(v.simElapsedMs)} / ${formatClock(v.durationMs)} simulated`
      : v.phase === 'settle'
        ? `load done; waiting for held sessions to end (${formatClock(v.simElapsedMs - v.durationMs)})`
        : v.phase === 'done'
          ? 'finished'
          : 'ready';
  const fraction = v.phase === 'load' ? v.simElapsedMs / v.durationMs : v.phase === 'ready' ? 0 : 1;
  lines.push(
    `${p('bold', 'fleetiq-sandbox')}  ${progressBar(fraction, 20)}  ${phaseText}  ${p('dim', `(speed ${v.speed}×, ${formatClock(v.realElapsedMs)} real)`)}`,
  );
  const c = v.components;
  lines.push(
    p(
      'dim',
      `pubsub ${c.pubsubReplicas} replicas (leader #${c.pubsubLeader ?? '-'}) · webhook ${c.webhookReplicas} replicas · ${c.agents} node agents`,
    ),
  );
  lines.push('');

  const s = v.sessions;
  const a = v.allocations;
  const d = v.drains;
  const summary = [
    `Sessions     started ${s.started}  held ${s.active}  completed ${s.completed}  ${s.lost > 0 ? p('red', `LOST ${s.lost}`) : p('green', 'lost 0')}  ended early by a Spot notice ${s.endedBySpotNotice ?? 0} (of ${s.interruptedBySpotNotice} reached)`,
    `Allocations  succeeded ${a.succeeded}  failed ${a.failed}  no Ready game server ${a.unallocated}`,
    `Drains       started ${d.started} (${d.spotEvictions} Spot)  deregistered ${d.deregistered}  reverted ${d.reverted}   instances terminated ${v.instances.terminated}, replacements ${v.instances.launched}`,
    `Reaction     status → taint: p50 ${fmtMs(v.reaction.p50)}, max ${fmtMs(v.reaction.max)} (${v.reaction.count}), real time`,
    ...(v.reaction.productionP50 != null
      ? [
          `             with production's ${v.reaction.productionPollSeconds} s poll instead: p50 ${fmtMs(v.reaction.productionP50)}`,
        ]
      : []),
  ];
  const recent = v.recent
    .slice(-6)
    .map(
      (e) => `  ${p('dim', `${formatClock(Math.max(0, e.at - v.startedAt)).padStart(6)} sim`)}  ${e.text}`,
    );
  const footer = o.footer ?? [];

  // Node table: what room is left after the rest.
  const fixed =
    lines.length + 2 + summary.length + 1 + 1 + recent.length + (footer.length ? footer.length + 1 : 0);
  const room = Math.max(3, o.height - fixed - 1);
  const columns = nodeColumns(width);
  lines.push(p('bold', columns.map((c) => cell(c.title, c.width)).join(' ')));
  const ordered = orderNodes(v.nodes);
  const shown = ordered.length > room ? ordered.slice(0, room - 1) : ordered;
  for (const n of shown) lines.push(columns.map((c) => c.render(n, p)).join(' '));
  if (shown.length < ordered.length) {
    const rest = ordered.slice(shown.length);
    lines.push(
      p('dim', `… ${rest.length} more nodes (${rest.filter((n) => n.phase === 'Active').length} Active)`),
    );
  }
  lines.push('');
  lines.push(...summary);
  lines.push('');
  lines.push(p('bold', 'Recent'));
  lines.push(...recent);
  if (footer.length) {
    lines.push('');
    lines.push(...footer.map((f) => p('dim', f)));
  }
  return lines.map((l) => clip(l, width, o.color)).join('\n');
}

interface NodeColumn {
  title: string;
  width: number;
  render(n: NodeRow, p: Paint): string;
}

const phaseText = (n: NodeRow) =>
  n.phase === 'Active' ? 'Active' : `${n.phase} ${formatClock(n.phaseForMs)}`;

/**
 * The node table's columns for a terminal `width` wide: the ones that say what happens (node, FleetIQ's
 * status, drain phase, allocated and ready game servers) always; then, while they fit, the node label
 * the agent wrote, the instance id and the scheduling flags. Nothing is cut mid-column.
 */
export function nodeColumns(width: number): NodeColumn[] {
  const essential: NodeColumn[] = [
    { title: 'NODE', width: 13, render: (n) => cell(n.name, 13) },
    {
      title: 'FLEETIQ',
      width: 16,
      render: (n, p) => p(STATUS_STYLE[n.fleetiqStatus] ?? 'reset', cell(n.fleetiqStatus, 16)),
    },
    {
      title: 'DRAIN PHASE',
      width: 18,
      render: (n, p) => p(PHASE_STYLE[n.phase] ?? 'reset', cell(phaseText(n), 18)),
    },
    { title: 'ALLOC', width: 5, render: (n) => cell(String(n.allocated), 5) },
    { title: 'READY', width: 5, render: (n) => cell(String(n.ready), 5) },
  ];
  const optional: Array<{ after: string; column: NodeColumn }> = [
    { after: 'FLEETIQ', column: { title: 'NODE LABEL', width: 16, render: (n) => cell(n.label ?? '-', 16) } },
    {
      after: 'NODE',
      column: { title: 'INSTANCE', width: 19, render: (n, p) => p('dim', cell(n.instanceId, 19)) },
    },
    {
      after: 'READY',
      column: {
        title: '',
        width: 20,
        render: (n, p) =>
          p(
            'dim',
            cell(
              [n.cordoned ? 'cordoned' : '', n.tainted ? 'tainted' : '', n.replacement ? 'new' : '']
                .filter(Boolean)
                .join(' '),
              20,
            ),
          ),
      },
    },
  ];
  const columns = [...essential];
  const used = () => columns.reduce((sum, c) => sum + c.width, 0) + columns.length - 1;
  for (const o of optional) {
    if (used() + 1 + o.column.width > width) continue;
    columns.splice(columns.findIndex((c) => c.title === o.after) + 1, 0, o.column);
  }
  return columns;
}

/** Cuts a line to `width` visible characters, keeping ANSI sequences intact. */
function clip(line: string, width: number, color: boolean): string {
  if (!color) return line.length > width ? line.slice(0, width) : line;
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}

/** One plain line for logs (no terminal). */
export function formatLogLine(v: SandboxView): string {
  const draining = v.nodes.filter((n) => n.phase !== 'Active' && n.phase !== 'SpotEvicting').length;
  const spot = v.nodes.filter((n) => n.phase === 'SpotEvicting').length;
  const progress =
    v.phase === 'load'
      ? `load ${formatClock(v.simElapsedMs)}/${formatClock(v.durationMs)}`
      : v.phase === 'settle'
        ? `settling ${formatClock(v.simElapsedMs - v.durationMs)}`
        : v.phase;
  const s = v.sessions;
  return (
    `[sandbox] ${progress} simulated | nodes ${v.nodes.length} (draining ${draining}, spot ${spot}) | ` +
    `sessions started ${s.started} held ${s.active} completed ${s.completed} lost ${s.lost} | ` +
    `allocations ok ${v.allocations.succeeded} failed ${v.allocations.failed} | ` +
    `drains started ${v.drains.started} deregistered ${v.drains.deregistered} reverted ${v.drains.reverted} | ` +
    `instances terminated ${v.instances.terminated} | reaction p50 ${fmtMs(v.reaction.p50)} real` +
    (v.reaction.productionP50 != null
      ? ` (${fmtMs(v.reaction.productionP50)} with a ${v.reaction.productionPollSeconds} s poll)`
      : '')
  );
}

export interface LiveView {
  stop(): void;
}

/** Redraws the frame on a terminal (~2×/s), or writes a plain line every `lineEveryMs`. */
export function startLiveView(
  getView: () => SandboxView,
  o: { tty: boolean; stream: NodeJS.WriteStream; footer?: string[]; lineEveryMs?: number },
): LiveView {
  if (!o.tty) {
    const t = setInterval(() => o.stream.write(`${formatLogLine(getView())}\n`), o.lineEveryMs ?? 5000);
    t.unref();
    return { stop: () => clearInterval(t) };
  }
  const draw = () => {
    const frame = renderFrame(getView(), {
      width: o.stream.columns ?? 100,
      height: o.stream.rows ?? 40,
      color: true,
      ...(o.footer ? { footer: o.footer } : {}),
    });
    // Home, draw, clear what is left of the previous frame.
    o.stream.write(`\x1b[H${frame.split('\n').join('\x1b[K\n')}\x1b[K\x1b[J`);
  };
  o.stream.write('\x1b[?25l\x1b[2J');
  draw();
  const t = setInterval(draw, 500);
  t.unref();
  return {
    stop: () => {
      clearInterval(t);
      draw();
      o.stream.write('\x1b[?25h\n');
    },
  };
}
