//! Operations on the raw TOML tree: parse env/override values, place them at a key path, merge
//! layers, and find keys the schema does not know.

use toml::{Table, Value};

/// Parses an env or override value. Where the schema expects a string the raw text is kept
/// (so `"true"` stays a string); otherwise it is read as a TOML value (`0.2`, `true`, `[..]`),
/// falling back to a plain string, which deserialization then rejects with a typed message.
pub fn parse_value(raw: &str, expected: Option<&Value>) -> Value {
    if matches!(expected, Some(Value::String(_))) {
        return Value::String(raw.to_owned());
    }
    match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut table) if table.len() == 1 => table
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        // a list of strings may also be given comma-separated: `http://a:1,http://b:2`
        _ if is_string_array(expected) => Value::Array(
            raw.split(',')
                .map(|item| Value::String(item.trim().to_owned()))
                .filter(|item| item.as_str().is_some_and(|s| !s.is_empty()))
                .collect(),
        ),
        _ => Value::String(raw.to_owned()),
    }
}

fn is_string_array(expected: Option<&Value>) -> bool {
    matches!(expected, Some(Value::Array(items)) if items.iter().all(Value::is_str))
}

/// The schema node at `path`, if every segment exists.
pub fn lookup<'a>(schema: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(schema, |node, segment| node.as_table()?.get(segment))
}

/// Sets `value` at `path`, creating tables on the way (replacing non-table values there).
pub fn insert(root: &mut Table, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table = root;
    for segment in parents {
        let entry = table
            .entry(segment.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else {
            return;
        };
        table = next;
    }
    table.insert(last.clone(), value);
}

/// Deep-merges `overlay` into `base`; overlay values win, tables merge key by key.
pub fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_table)), Value::Table(overlay_table)) => {
                merge(base_table, overlay_table);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Paths of every key in `tree` that `schema` lacks. Values whose schema node is not a table are
/// not descended into (type errors are reported by deserialization).
pub fn unknown_keys(schema: &Value, tree: &Table, prefix: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (key, value) in tree {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match (schema.as_table().and_then(|t| t.get(key)), value) {
            (None, _) => found.push(path),
            (Some(node @ Value::Table(_)), Value::Table(sub)) => {
                found.extend(unknown_keys(node, sub, &path));
            }
            _ => {}
        }
    }
    found
}

/// Removes the value at `path`, if present.
pub fn remove(root: &mut Table, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table = root;
    for segment in parents {
        match table.get_mut(segment) {
            Some(Value::Table(next)) => table = next,
            _ => return,
        }
    }
    table.remove(last);
}

/// Dotted paths of every leaf (non-table value) in `tree`.
pub fn leaf_paths(tree: &Table, prefix: &str) -> Vec<(String, Value)> {
    let mut leaves = Vec::new();
    for (key, value) in tree {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Table(sub) => leaves.extend(leaf_paths(sub, &path)),
            other => leaves.push((path, other.clone())),
        }
    }
    leaves
}

/// Splits `a.b.c` into segments; `None` if any segment is empty.
pub fn split_path(dotted: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = dotted.split('.').map(|s| s.trim().to_owned()).collect();
    segments.iter().all(|s| !s.is_empty()).then_some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn values_follow_the_schema_type() {
        let string = Value::String(String::new());
        let int = Value::Integer(0);
        assert_eq!(
            parse_value("true", Some(&string)),
            Value::String("true".into())
        );
        assert_eq!(parse_value("true", Some(&int)), Value::Boolean(true));
        assert_eq!(parse_value("42", None), Value::Integer(42));
        assert_eq!(parse_value("0.25", None), Value::Float(0.25));
        assert_eq!(
            parse_value("http://x:1", None),
            Value::String("http://x:1".into())
        );
        // a newline must not smuggle in a second key
        assert_eq!(
            parse_value("1\nw = 2", None),
            Value::String("1\nw = 2".into())
        );
        let array = parse_value(r#"["a", "b"]"#, None);
        assert_eq!(array.as_array().map(Vec::len), Some(2));
        let list = Value::Array(vec![Value::String(String::new())]);
        let split = parse_value("http://a:1, http://b:2", Some(&list));
        assert_eq!(
            split,
            Value::Array(vec![
                Value::String("http://a:1".into()),
                Value::String("http://b:2".into())
            ])
        );
    }

    #[test]
    fn insert_merge_and_unknown_keys() {
        let schema = Value::Table(table("[a]\nx = 1\n[a.b]\ny = 2\n[c]\nz = 3"));
        let mut tree = table("[a]\nx = 5");
        insert(
            &mut tree,
            &["a".into(), "b".into(), "y".into()],
            Value::Integer(7),
        );
        merge(&mut tree, table("[a]\nq = 1\n[d]\nw = 1"));
        assert_eq!(tree["a"]["b"]["y"].as_integer(), Some(7));
        assert_eq!(tree["a"]["x"].as_integer(), Some(5));
        let mut unknown: Vec<String> = unknown_keys(&schema, &tree, &[])
            .iter()
            .map(|p| p.join("."))
            .collect();
        unknown.sort();
        assert_eq!(unknown, ["a.q", "d"]);
        remove(&mut tree, &["a".into(), "q".into()]);
        remove(&mut tree, &["d".into()]);
        let mut leaves: Vec<String> = leaf_paths(&tree, "").into_iter().map(|l| l.0).collect();
        leaves.sort();
        assert_eq!(leaves, ["a.b.y", "a.x"]);
        assert_eq!(split_path("a..b"), None);
        assert_eq!(
            lookup(&schema, &["a".into(), "b".into()]).map(Value::is_table),
            Some(true)
        );
    }
}
