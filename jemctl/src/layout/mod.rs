//! Text tables and notes that fit the terminal: the layout every terminal exporter shares.
//!
//! A table is a list of [`Column`]s, each with a key (what `--columns` names), a header, an
//! alignment, and whether it is shown by default and in which order it gives way when the
//! width is short. [`Table::render`] picks the columns ([`Choice`]), lays them out two spaces
//! apart, prints a group's repeated leading cells once, and never breaks a cell inside a word:
//! a column that does not fit is left out (and named in [`Rendered::left_out`]); only a
//! column marked `wrap` breaks its cells, after the commas of a list. [`wrap`] breaks notes
//! at spaces.
//! The width is `--width`, else `COLUMNS`, else the terminal's, else [`DEFAULT_WIDTH`].

use std::sync::OnceLock;

/// The width when neither `--width`, `COLUMNS` nor a terminal says otherwise.
pub const DEFAULT_WIDTH: usize = 100;
/// Narrower than this, tables keep their essential columns and overflow.
pub const MIN_WIDTH: usize = 40;
const GAP: &str = "  ";

static WIDTH_OPTION: OnceLock<usize> = OnceLock::new();

/// Records `--width`, once, before anything is printed.
pub fn set_width(width: Option<usize>) {
    if let Some(w) = width {
        let _ = WIDTH_OPTION.set(w.max(MIN_WIDTH));
    }
}

/// The width to fit: `--width`, `COLUMNS`, the terminal on stdout, or [`DEFAULT_WIDTH`].
pub fn width() -> usize {
    if let Some(&w) = WIDTH_OPTION.get() {
        return w;
    }
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|&w| w > 0) {
        return w.max(MIN_WIDTH);
    }
    terminal_width().unwrap_or(DEFAULT_WIDTH)
}

fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass; on a descriptor that is
    // not a terminal it fails and writes nothing.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `ws` is a valid, writable winsize.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then(|| (ws.ws_col as usize).max(MIN_WIDTH))
}

/// Display width of a cell: every character this crate prints (µ, ±, …) is one column wide.
pub fn text_width(s: &str) -> usize {
    s.chars().count()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Clone, Debug)]
pub struct Column {
    /// The name `--columns` takes.
    pub key: &'static str,
    pub header: &'static str,
    pub align: Align,
    /// Shown without `--columns` or `--wide`.
    pub default: bool,
    /// Among default columns, the order in which they give way to a short width: 1 first;
    /// 0 never.
    pub yields: u8,
    /// Its cells are lists ("a, b, c") that may break after a comma; it takes whatever width
    /// is left.
    pub wrap: bool,
    /// Leading cells equal to the row above's print blank (grouping: workload, threads).
    pub group: bool,
}

impl Column {
    pub const fn new(key: &'static str, header: &'static str, align: Align) -> Column {
        Column { key, header, align, default: true, yields: 0, wrap: false, group: false }
    }
    pub const fn optional(self) -> Column {
        Column { default: false, ..self }
    }
    pub const fn yields(self, order: u8) -> Column {
        Column { yields: order, ..self }
    }
    pub const fn wrap(self) -> Column {
        Column { wrap: true, ..self }
    }
    pub const fn group(self) -> Column {
        Column { group: true, ..self }
    }
}

/// Which columns to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// The default columns, less those that do not fit the width.
    #[default]
    Default,
    /// Every column, whatever the width.
    Wide,
    /// These keys, in this order, whatever the width.
    Named(Vec<String>),
}

impl Choice {
    pub fn from_args(columns: &[String], wide: bool) -> Choice {
        if wide {
            Choice::Wide
        } else if columns.is_empty() {
            Choice::Default
        } else {
            Choice::Named(columns.iter().flat_map(|c| c.split(',')).map(|c| c.trim().to_string()).collect())
        }
    }
}

/// A row of cells, one per column of the table, or a blank line between groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Cells(Vec<String>),
    Break,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub columns: Vec<Column>,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub text: String,
    /// Default columns left out to fit the width.
    pub left_out: Vec<&'static str>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table { columns, lines: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.lines.push(Line::Cells(cells));
    }

    pub fn group_break(&mut self) {
        if matches!(self.lines.last(), Some(Line::Cells(_))) {
            self.lines.push(Line::Break);
        }
    }

    /// The keys `--columns` takes, for messages.
    pub fn keys(&self) -> String {
        self.columns.iter().map(|c| c.key).collect::<Vec<_>>().join(", ")
    }

    /// Checks a `--columns` list against this table's keys.
    pub fn check(&self, choice: &Choice) -> Result<(), String> {
        if let Choice::Named(keys) = choice {
            if let Some(bad) = keys.iter().find(|k| !self.columns.iter().any(|c| c.key == k.as_str())) {
                return Err(format!("unknown column '{bad}'; the columns are: {}", self.keys()));
            }
        }
        Ok(())
    }

    fn natural_width(&self, i: usize) -> usize {
        let cells = self.lines.iter().filter_map(|l| match l {
            Line::Cells(c) => Some(text_width(&c[i])),
            Line::Break => None,
        });
        cells.chain([text_width(self.columns[i].header)]).max().unwrap_or(0)
    }

    /// The narrowest a wrapping column can be: its longest word.
    fn min_width(&self, i: usize) -> usize {
        if !self.columns[i].wrap {
            return self.natural_width(i);
        }
        let words = self.lines.iter().filter_map(|l| match l {
            Line::Cells(c) => list_items(&c[i]).map(text_width).max(),
            Line::Break => None,
        });
        words.chain([text_width(self.columns[i].header)]).max().unwrap_or(0)
    }

    fn total(&self, shown: &[usize], widths: impl Fn(usize) -> usize) -> usize {
        shown.iter().map(|&i| widths(i)).sum::<usize>() + GAP.len() * shown.len().saturating_sub(1)
    }

    /// Lays the table out for `width` columns.
    pub fn render(&self, choice: &Choice, width: usize) -> Rendered {
        let mut shown: Vec<usize> = match choice {
            Choice::Default => (0..self.columns.len()).filter(|&i| self.columns[i].default).collect(),
            Choice::Wide => (0..self.columns.len()).collect(),
            Choice::Named(keys) => keys.iter().filter_map(|k| self.columns.iter().position(|c| c.key == k.as_str())).collect(),
        };
        let mut left_out = Vec::new();
        if *choice == Choice::Default {
            while self.total(&shown, |i| self.min_width(i)) > width {
                let Some(pos) = shown
                    .iter()
                    .enumerate()
                    .filter(|(_, &i)| self.columns[i].yields > 0)
                    .min_by_key(|(_, &i)| self.columns[i].yields)
                    .map(|(p, _)| p)
                else {
                    break;
                };
                left_out.push(self.columns[shown.remove(pos)].header);
            }
        }
        let mut widths: Vec<usize> = (0..self.columns.len()).map(|i| self.natural_width(i)).collect();
        if let Some(&w) = shown.iter().find(|&&i| self.columns[i].wrap) {
            let others = self.total(&shown, |i| if i == w { 0 } else { widths[i] });
            widths[w] = width.saturating_sub(others).clamp(self.min_width(w), widths[w]);
        }
        let mut out = String::new();
        let header: Vec<String> = shown.iter().map(|&i| self.columns[i].header.to_string()).collect();
        self.push_line(&mut out, &shown, &widths, &header);
        let rule: Vec<String> = shown.iter().map(|&i| "─".repeat(widths[i])).collect();
        out.push_str(rule.join(GAP).trim_end());
        out.push('\n');
        let mut previous: Option<&Vec<String>> = None;
        for line in &self.lines {
            match line {
                Line::Break => {
                    out.push('\n');
                    previous = None;
                }
                Line::Cells(cells) => {
                    let mut shown_cells: Vec<String> = shown.iter().map(|&i| cells[i].clone()).collect();
                    // Leading group columns equal to the row above's print blank.
                    if let Some(prev) = previous {
                        for (k, &i) in shown.iter().enumerate() {
                            if !self.columns[i].group || prev[i] != cells[i] {
                                break;
                            }
                            shown_cells[k].clear();
                        }
                    }
                    self.push_line(&mut out, &shown, &widths, &shown_cells);
                    previous = Some(cells);
                }
            }
        }
        Rendered { text: out, left_out }
    }

    fn push_line(&self, out: &mut String, shown: &[usize], widths: &[usize], cells: &[String]) {
        let columns: Vec<Vec<String>> = shown
            .iter()
            .zip(cells)
            .map(|(&i, c)| if self.columns[i].wrap { wrap_list(c, widths[i]) } else { vec![c.clone()] })
            .collect();
        let height = columns.iter().map(Vec::len).max().unwrap_or(1).max(1);
        for k in 0..height {
            let mut line = String::new();
            for (n, (&i, parts)) in shown.iter().zip(&columns).enumerate() {
                if n > 0 {
                    line.push_str(GAP);
                }
                let text = parts.get(k).map_or("", String::as_str);
                let pad = widths[i].saturating_sub(text_width(text));
                match self.columns[i].align {
                    Align::Left => {
                        line.push_str(text);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(text);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// Breaks `text` at spaces into lines of at most `width` columns (a word longer than that
/// gets a line of its own, unbroken); lines after the first start with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let prefix = if lines.is_empty() { 0 } else { text_width(indent) };
        if !line.is_empty() && prefix + text_width(&line) + 1 + text_width(word) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    for l in lines.iter_mut().skip(1) {
        l.insert_str(0, indent);
    }
    lines
}

/// The items of a list cell, each with its trailing comma: "[4 KiB," "8 KiB]".
fn list_items(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(", ").map(str::trim_end)
}

/// Breaks a list cell after its commas into lines of at most `width` columns.
fn wrap_list(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for item in list_items(text) {
        if !line.is_empty() && text_width(&line) + 1 + text_width(item) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(item);
    }
    lines.push(line);
    lines
}

/// Notes as a list: "- " and the text, wrapped at `width` with a hanging indent.
pub fn notes(notes: &[String], width: usize) -> String {
    let mut out = String::new();
    for n in notes {
        for line in wrap(&format!("- {n}"), width, "  ") {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Marks the best of `values` (by `better`) with a trailing `*` and pads the others by one
/// space so that right-aligned figures stay aligned; nothing is marked when fewer than two
/// values are present or all are equal.
pub fn mark_best(cells: &mut [&mut String], values: &[Option<f64>], higher_is_better: bool) {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.len() < 2 {
        return;
    }
    let best = present.iter().copied().fold(if higher_is_better { f64::MIN } else { f64::MAX }, |a, b| {
        if higher_is_better {
            a.max(b)
        } else {
            a.min(b)
        }
    });
    if present.iter().all(|&v| v == best) {
        return;
    }
    for (cell, v) in cells.iter_mut().zip(values) {
        cell.push(if *v == Some(best) { '*' } else { ' ' });
    }
}

#[cfg(test)]
mod tests;
