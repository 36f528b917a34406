// The run as a picture: one bar per node over simulated time, coloured by drain phase (every phase
// visible, however short), with FleetIQ's status changes marked on it, the sessions the node held drawn
// across it and the moment its last session ended marked; below, the sessions held, completed, ended by
// Spot notices and lost over time. Nodes in natural order (ip-10-0-0-4 before ip-10-0-0-10). Pure:
// data in, SVG text out.
import type { NodePhase, NodeTrack, SessionSample } from './metrics.js';
import { formatClock } from './report.js';

export interface TimelineInput {
  title: string;
  /** Lines under the title. */
  subtitle?: string[];
  nodes: NodeTrack[];
  samples: SessionSample[];
  /** Simulated ms: the chart's left edge (the load start) and right edge. */
  startAt: number;
  endAt: number;
  /** When the load stopped (a dashed line), if it did. */
  loadEndAt?: number;
}

export const PHASE_COLORS: Record<NodePhase, string> = {
  Active: '#4caf50',
  Cordoned: '#ffc107',
  Fenced: '#ff9800',
  Tainted: '#9c27b0',
  SpotEvicting: '#e53935',
  Drained: '#607d8b',
  Deregistered: '#9e9e9e',
};

const STATUS_COLORS: Record<string, string> = {
  ACTIVE: '#2e7d32',
  DRAINING: '#f57f17',
  SPOT_TERMINATING: '#b71c1c',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A tick step (ms) giving about `target` ticks over `spanMs`. */
export function tickStep(spanMs: number, target = 8): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].map((s) => s * 1000);
  return steps.find((s) => spanMs / s <= target) ?? 14_400_000;
}

/** The smallest round number at or above `v`, close to it: the axis fits the data. */
export function niceMax(v: number): number {
  if (v <= 5) return 5;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

/** A phase shorter than this many pixels is drawn this wide, so that every phase can be seen. */
export const MIN_PHASE_PX = 4;

const naturalOrder = new Intl.Collator('en', { numeric: true });

/**
 * The node rows' order: the first nodes, then the replacements FleetIQ launched, each in natural name
 * order; with many nodes, those something happened to first (thin rows would hide them).
 */
export function orderTracks(nodes: readonly NodeTrack[]): NodeTrack[] {
  const eventful = (n: NodeTrack) => (nodes.length > 40 && (n.segments.length > 1 || n.replacement) ? 0 : 1);
  return [...nodes].sort(
    (a, b) =>
      eventful(a) - eventful(b) ||
      Number(a.replacement) - Number(b.replacement) ||
      naturalOrder.compare(a.name, b.name),
  );
}

/** When the node's last session ended: the last time its held sessions went from some to none. */
export function lastSessionEnd(samples: readonly SessionSample[], nodeName: string): number | undefined {
  let held = 0;
  let endedAt: number | undefined;
  for (const s of samples) {
    if (!s.byNode) continue;
    const now = s.byNode[nodeName] ?? 0;
    if (held > 0 && now === 0) endedAt = s.at;
    else if (now > 0) endedAt = undefined;
    held = now;
  }
  return endedAt;
}

export function renderTimelineSvg(input: TimelineInput): string {
  const width = 1100;
  const left = 170;
  const right = 40;
  const top = 62 + 18 * (input.subtitle?.length ?? 0);
  const plotW = width - left - right;
  const span = Math.max(1, input.endAt - input.startAt);
  const x = (t: number) =>
    left + (Math.max(input.startAt, Math.min(input.endAt, t)) - input.startAt) * (plotW / span);
  const nodes = orderTracks(input.nodes);
  const rowH = Math.max(3, Math.min(20, Math.floor(600 / Math.max(1, nodes.length))));
  const maxPerNode = Math.max(0, ...input.samples.flatMap((p) => (p.byNode ? Object.values(p.byNode) : [])));
  const gap = rowH >= 10 ? 4 : 1;
  const nodesH = nodes.length * (rowH + gap);
  const chartTop = top + nodesH + 50;
  const chartH = 170;
  const legendY = chartTop + chartH + 45;
  const height = legendY + 50;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(input.title)}</text>`);
  (input.subtitle ?? []).forEach((line, i) =>
    out.push(`<text x="${left}" y="${44 + 18 * i}" fill="#555">${esc(line)}</text>`),
  );

  // Time grid.
  const step = tickStep(span);
  for (let t = 0; t <= span; t += step) {
    const gx = x(input.startAt + t);
    out.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${chartTop + chartH}" stroke="#eee"/>`);
    out.push(
      `<text x="${gx}" y="${top - 12}" text-anchor="middle" fill="#777" font-size="10">${formatClock(t)}</text>`,
    );
    out.push(
      `<text x="${gx}" y="${chartTop + chartH + 14}" text-anchor="middle" fill="#777" font-size="10">${formatClock(t)}</text>`,
    );
  }
  if (input.loadEndAt !== undefined && input.loadEndAt < input.endAt) {
    const lx = x(input.loadEndAt);
    out.push(
      `<line x1="${lx}" y1="${top - 8}" x2="${lx}" y2="${chartTop + chartH}" stroke="#333" stroke-dasharray="4 3"/>`,
    );
    out.push(`<text x="${lx + 4}" y="${chartTop - 8}" fill="#333" font-size="10">load stopped</text>`);
  }

  // Node rows.
  nodes.forEach((n, i) => {
    const y = top + i * (rowH + gap);
    if (rowH >= 10) {
      out.push(
        `<text x="${left - 8}" y="${y + rowH - 4}" text-anchor="end" font-size="${Math.min(11, rowH - 2)}" fill="${n.replacement ? '#1565c0' : '#222'}">${esc(n.name.split('.')[0]!)}${n.replacement ? ' (new)' : ''}</text>`,
      );
    }
    // A drain's Cordoned and Fenced may last milliseconds: each segment is drawn at least
    // MIN_PHASE_PX wide, the next one starting after it, so the order of phases can be read.
    let cursor = -Infinity;
    for (const seg of n.segments) {
      const end = seg.to ?? n.leftAt ?? input.endAt;
      if (end < input.startAt || seg.from > input.endAt) continue;
      const x1 = Math.max(x(seg.from), cursor);
      const x2 = Math.max(x(end), x1 + (seg.phase === 'Active' ? 0 : MIN_PHASE_PX));
      if (x2 - x1 <= 0) continue;
      cursor = x2;
      out.push(
        `<rect x="${x1.toFixed(1)}" y="${y}" width="${(x2 - x1).toFixed(1)}" height="${rowH}" fill="${PHASE_COLORS[seg.phase]}"><title>${esc(`${n.name} ${n.instanceId}: ${seg.phase} ${formatClock(seg.from - input.startAt)}–${formatClock(end - input.startAt)}`)}</title></rect>`,
      );
    }
    // The sessions the node held, as a step line across its bar (scaled to the busiest node).
    const held = input.samples.filter((p) => p.byNode && p.at >= input.startAt && p.at <= input.endAt);
    if (held.length > 0 && rowH >= 6 && maxPerNode > 0) {
      const hy = (v: number) => (y + rowH - 1 - (v / maxPerNode) * (rowH - 2)).toFixed(1);
      const pts: string[] = [];
      let prev: number | undefined;
      for (const p of held) {
        if (p.at < n.joinedAt || (n.leftAt !== undefined && p.at > n.leftAt)) continue;
        const v = p.byNode![n.name] ?? 0;
        if (prev !== undefined && v !== prev) pts.push(`${x(p.at).toFixed(1)},${hy(prev)}`);
        pts.push(`${x(p.at).toFixed(1)},${hy(v)}`);
        prev = v;
      }
      const peak = Math.max(0, ...held.map((p) => p.byNode![n.name] ?? 0));
      if (pts.length > 1)
        out.push(
          `<polyline class="sessions" points="${pts.join(' ')}" fill="none" stroke="#0d47a1" stroke-width="1.2"><title>${esc(`${n.name}: sessions held (at most ${peak})`)}</title></polyline>`,
        );
      out.push(
        `<text x="${left + plotW + 4}" y="${y + rowH - 3}" font-size="${Math.min(10, rowH - 2)}" fill="#0d47a1">${peak}</text>`,
      );
      const last = lastSessionEnd(held, n.name);
      if (last !== undefined && n.segments.length > 1) {
        const lx = x(last);
        out.push(
          `<line class="last-session" x1="${lx.toFixed(1)}" y1="${y - 2}" x2="${lx.toFixed(1)}" y2="${y + rowH + 2}" stroke="#000" stroke-width="2"><title>${esc(`${n.name}: last session ended at ${formatClock(last - input.startAt)}`)}</title></line>`,
        );
      }
    }
    for (const m of n.marks) {
      const mx = x(m.at);
      const c = STATUS_COLORS[m.status] ?? '#000';
      const s = Math.max(3, Math.min(6, rowH / 2));
      out.push(
        `<path d="M${(mx - s).toFixed(1)},${y - 1} L${(mx + s).toFixed(1)},${y - 1} L${mx.toFixed(1)},${(y - 1 + s * 1.4).toFixed(1)} Z" fill="${c}" stroke="#fff" stroke-width="0.8"><title>${esc(`FleetIQ ${m.status} at ${formatClock(m.at - input.startAt)}`)}</title></path>`,
      );
    }
    if (n.leftAt !== undefined && n.leftAt <= input.endAt) {
      const tx = x(n.leftAt);
      const s = Math.max(2, Math.min(5, rowH / 2 - 1));
      const cy = y + rowH / 2;
      out.push(
        `<path d="M${tx - s},${cy - s} L${tx + s},${cy + s} M${tx - s},${cy + s} L${tx + s},${cy - s}" stroke="#000" stroke-width="1.6"><title>instance terminated</title></path>`,
      );
    }
  });
  if (rowH < 10)
    out.push(
      `<text x="${left - 8}" y="${top + 12}" text-anchor="end" fill="#222">${nodes.length} nodes</text>`,
    );

  // Sessions chart.
  const samples = input.samples.filter((s) => s.at >= input.startAt && s.at <= input.endAt);
  const maxY = niceMax(
    Math.max(1, ...samples.map((s) => Math.max(s.active, s.completed, s.lost, s.endedBySpotNotice))),
  );
  const y = (v: number) => chartTop + chartH - (v / maxY) * chartH;
  out.push(`<text x="${left}" y="${chartTop - 10}" font-weight="bold">Sessions</text>`);
  out.push(
    `<rect x="${left}" y="${chartTop}" width="${plotW}" height="${chartH}" fill="none" stroke="#ccc"/>`,
  );
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = Math.round(maxY * f);
    out.push(
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#777" font-size="10">${v}</text>`,
    );
    if (f > 0 && f < 1)
      out.push(`<line x1="${left}" y1="${y(v)}" x2="${left + plotW}" y2="${y(v)}" stroke="#f0f0f0"/>`);
  }
  const series: Array<{ key: keyof SessionSample; color: string; label: string; width: number }> = [
    { key: 'active', color: '#1e88e5', label: 'held', width: 2 },
    { key: 'completed', color: '#43a047', label: 'completed (cumulative)', width: 2 },
    { key: 'endedBySpotNotice', color: '#fb8c00', label: 'ended by a Spot notice (cumulative)', width: 2 },
    { key: 'lost', color: '#e53935', label: 'lost (cumulative)', width: 2.5 },
  ];
  for (const s of series) {
    if (samples.length === 0) break;
    const pts = samples.map((p) => `${x(p.at).toFixed(1)},${y(p[s.key] as number).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${s.width}"/>`);
  }

  // Legend.
  let lx = left;
  for (const [phase, color] of Object.entries(PHASE_COLORS)) {
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="14" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 18}" y="${legendY}">${phase}</text>`);
    lx += 26 + phase.length * 7;
  }
  lx += 10;
  for (const [status, color] of Object.entries(STATUS_COLORS)) {
    out.push(
      `<path d="M${lx},${legendY - 10} L${lx + 12},${legendY - 10} L${lx + 6},${legendY - 1} Z" fill="${color}"/>`,
    );
    out.push(`<text x="${lx + 16}" y="${legendY}">${status}</text>`);
    lx += 24 + status.length * 7;
  }
  out.push(`<text x="${lx + 4}" y="${legendY}">✕ terminated</text>`);
  const ny = legendY + 40;
  out.push(
    `<line x1="${left}" y1="${ny - 4}" x2="${left + 18}" y2="${ny - 4}" stroke="#0d47a1" stroke-width="1.2"/>`,
  );
  out.push(`<text x="${left + 22}" y="${ny}">sessions held on the node (its peak at the right end)</text>`);
  out.push(
    `<line x1="${left + 420}" y1="${ny - 12}" x2="${left + 420}" y2="${ny + 2}" stroke="#000" stroke-width="2"/>`,
  );
  out.push(`<text x="${left + 428}" y="${ny}">its last session ended</text>`);
  const ly = legendY + 20;
  let sx = left;
  for (const s of series) {
    out.push(
      `<line x1="${sx}" y1="${ly - 4}" x2="${sx + 18}" y2="${ly - 4}" stroke="${s.color}" stroke-width="${s.width}"/>`,
    );
    out.push(`<text x="${sx + 22}" y="${ly}">${s.label}</text>`);
    sx += 40 + s.label.length * 7;
  }
  out.push('</svg>');
  return out.join('\n');
}
