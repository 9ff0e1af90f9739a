// A tiny Markdown renderer for the stored reports: headings, paragraphs, pipe tables (with
// column alignment), bullet and numbered lists, fenced code, rules, and inline bold, italics and
// code. It builds DOM nodes and text nodes only — never innerHTML — so any HTML in a report
// (a user id such as "<img onerror=…>", say) shows as the literal text it is.

import { h, type Child } from "./dom";

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const FENCE = /^\s*```/;

/** Render Markdown into a fragment; `headingOffset` demotes headings to fit the page's outline. */
export function renderMarkdown(source: string, headingOffset = 2): DocumentFragment {
  const out = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i++;
      continue;
    }
    if (FENCE.test(line)) {
      const code: string[] = [];
      i++;
      while (i < lines.length && !FENCE.test(lines[i])) code.push(lines[i++]);
      i++;
      out.append(h("pre", null, h("code", { text: code.join("\n") })));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1].length + headingOffset);
      out.append(h(`h${level}` as "h3", null, inline(heading[2])));
      i++;
      continue;
    }
    if (RULE.test(line)) {
      out.append(h("hr"));
      i++;
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      const rows: string[] = [];
      const header = line;
      const align = cells(lines[i + 1]).map((c) =>
        c.endsWith(":") ? (c.startsWith(":") ? "center" : "right") : c.startsWith(":") ? "left" : "",
      );
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim() !== "") rows.push(lines[i++]);
      out.append(table(header, rows, align));
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      const numbered = !BULLET.test(line);
      const pattern = numbered ? NUMBERED : BULLET;
      const items: HTMLLIElement[] = [];
      while (i < lines.length && pattern.test(lines[i])) items.push(h("li", null, inline(pattern.exec(lines[i++])![1])));
      out.append(numbered ? h("ol", null, items) : h("ul", null, items));
      continue;
    }
    const paragraph: string[] = [];
    while (
      i < lines.length &&
      lines[i].trim() !== "" &&
      !HEADING.test(lines[i]) &&
      !FENCE.test(lines[i]) &&
      !BULLET.test(lines[i]) &&
      !NUMBERED.test(lines[i]) &&
      !(lines[i].includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]))
    ) {
      paragraph.push(lines[i++].trim());
    }
    out.append(h("p", null, inline(paragraph.join(" "))));
  }
  return out;
}

/** Split a table row on unescaped pipes; `\|` is a literal pipe. */
function cells(row: string): string[] {
  let text = row.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  const out: string[] = [];
  let current = "";
  for (let k = 0; k < text.length; k++) {
    if (text[k] === "\\" && text[k + 1] === "|") {
      current += "|";
      k++;
    } else if (text[k] === "|") {
      out.push(current.trim());
      current = "";
    } else current += text[k];
  }
  out.push(current.trim());
  return out;
}

function table(header: string, rows: string[], align: string[]): HTMLElement {
  const cellProps = (n: number) => (align[n] ? { class: `align-${align[n]}` } : null);
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      null,
      h("thead", null, h("tr", null, cells(header).map((c, n) => h("th", { ...cellProps(n), scope: "col" }, inline(c))))),
      h("tbody", null, rows.map((r) => h("tr", null, cells(r).map((c, n) => h("td", cellProps(n), inline(c)))))),
    ),
  );
}

/** Inline spans: `code`, **bold**, *italic* / _italic_; everything else is plain text. */
export function inline(text: string): Child[] {
  const out: Child[] = [];
  const pattern = /`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index! > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("code", { text: m[1] }));
    else if (m[2] !== undefined || m[3] !== undefined) out.push(h("strong", null, inline(m[2] ?? m[3])));
    else out.push(h("em", null, inline(m[4] ?? m[5])));
    last = m.index! + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
