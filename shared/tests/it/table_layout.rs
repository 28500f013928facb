//! The table's layout as docs/architecture.md lists it is the layout the code writes: every row of
//! the State table is a kind of item in `shared::table::LAYOUT`, and every kind there is a row.

use std::collections::BTreeSet;

fn first_code_span(cell: &str) -> Option<String> {
    cell.split('`').nth(1).map(str::to_owned)
}

#[test]
fn the_documented_layout_is_the_tables() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/architecture.md")).unwrap();
    let state = doc.split("## State").nth(1).unwrap();
    let documented: BTreeSet<(String, String)> = state
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|') && l.contains('`'))
        .filter_map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
            let (pk, sk) = (cells.get(cells.len().checked_sub(2)?)?, cells.last()?);
            Some((first_code_span(pk)?, first_code_span(sk)?))
        })
        .collect();
    let code: BTreeSet<(String, String)> =
        shared::table::LAYOUT.iter().map(|k| (k.pk.to_owned(), k.sk.to_owned())).collect();
    assert_eq!(code.len(), shared::table::LAYOUT.len(), "no kind listed twice");
    let undocumented: Vec<_> = code.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "in the code only: {undocumented:?}; in the docs only: {unknown:?}"
    );
}
