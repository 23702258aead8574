//! Whether a column's new type holds every value of its old one (widened), only some of them
//! (narrowed), or is of another family (changed). Type names are the ones DataSet schemas use
//! (SQL, Arrow, Parquet spellings), compared without letter case.

/// How a column's type changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeChange {
    Same,
    Widened,
    Narrowed,
    Changed,
}

/// A type placed in a family where a higher rank holds every value of a lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Integer(u8),
    Float(u8),
    Decimal(Option<(u32, u32)>),
    Text(Option<u32>),
    Date(u8),
    Other,
}

fn family(text: &str) -> Family {
    let lower = text.trim().to_ascii_lowercase();
    let (base, args) = match lower.split_once('(') {
        Some((base, rest)) => (base.trim(), rest.trim_end_matches(')').trim()),
        None => (lower.as_str(), ""),
    };
    let numbers: Vec<u32> = args
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match base {
        "tinyint" | "int8" | "byte" => Family::Integer(1),
        "smallint" | "int16" | "short" => Family::Integer(2),
        "int" | "integer" | "int32" => Family::Integer(3),
        "bigint" | "long" | "int64" => Family::Integer(4),
        "hugeint" | "int128" => Family::Integer(5),
        "real" | "float" | "float32" | "float4" => Family::Float(1),
        "double" | "double precision" | "float64" | "float8" => Family::Float(2),
        "decimal" | "numeric" => Family::Decimal(match numbers[..] {
            [precision, scale] => Some((precision, scale)),
            [precision] => Some((precision, 0)),
            _ => None,
        }),
        "string" | "text" | "utf8" | "varchar" | "char" | "character varying" => {
            Family::Text(numbers.first().copied())
        }
        "date" => Family::Date(1),
        "timestamp" | "datetime" | "timestamptz" => Family::Date(2),
        _ => Family::Other,
    }
}

/// Compares two ranks of one family.
fn by_rank<T: Ord>(old: T, new: T) -> TypeChange {
    match new.cmp(&old) {
        std::cmp::Ordering::Equal => TypeChange::Same,
        std::cmp::Ordering::Greater => TypeChange::Widened,
        std::cmp::Ordering::Less => TypeChange::Narrowed,
    }
}

/// Bounded text holds less than unbounded; a longer bound more.
fn text_rank(bound: Option<u32>) -> u64 {
    bound.map_or(u64::MAX, u64::from)
}

pub fn compare_types(old: &str, new: &str) -> TypeChange {
    if old.trim().eq_ignore_ascii_case(new.trim()) {
        return TypeChange::Same;
    }
    match (family(old), family(new)) {
        (Family::Integer(a), Family::Integer(b)) => by_rank(a, b),
        (Family::Float(a), Family::Float(b)) => by_rank(a, b),
        (Family::Date(a), Family::Date(b)) => by_rank(a, b),
        (Family::Text(a), Family::Text(b)) => by_rank(text_rank(a), text_rank(b)),
        (Family::Decimal(a), Family::Decimal(b)) => match (a, b) {
            (Some((p1, s1)), Some((p2, s2))) if (p1, s1) == (p2, s2) => TypeChange::Same,
            // More integer digits and more fraction digits hold every old value.
            (Some((p1, s1)), Some((p2, s2))) if s2 >= s1 && p2 - s2.min(p2) >= p1 - s1.min(p1) => {
                TypeChange::Widened
            }
            (Some((p1, s1)), Some((p2, s2))) if s1 >= s2 && p1 - s1.min(p1) >= p2 - s2.min(p2) => {
                TypeChange::Narrowed
            }
            (None, None) => TypeChange::Same,
            _ => TypeChange::Changed,
        },
        // An integer of up to 32 bits is exact in a double; a float holds no more in 64.
        (Family::Integer(a), Family::Float(2)) if a <= 3 => TypeChange::Widened,
        (Family::Float(2), Family::Integer(a)) if a <= 3 => TypeChange::Narrowed,
        // Unbounded text holds the text of any value.
        (old, Family::Text(None)) if old != Family::Other => TypeChange::Widened,
        (Family::Text(None), new) if new != Family::Other => TypeChange::Narrowed,
        _ => TypeChange::Changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_and_narrowing_are_mirror_images() {
        for (old, new) in [
            ("integer", "bigint"),
            ("INT", "BIGINT"),
            ("float", "double"),
            ("int", "double"),
            ("date", "timestamp"),
            ("varchar(10)", "varchar(20)"),
            ("varchar(10)", "string"),
            ("integer", "string"),
            ("decimal(10,2)", "decimal(12,2)"),
            ("decimal(10,2)", "decimal(11,3)"),
        ] {
            assert_eq!(
                compare_types(old, new),
                TypeChange::Widened,
                "{old} → {new}"
            );
            assert_eq!(
                compare_types(new, old),
                TypeChange::Narrowed,
                "{new} → {old}"
            );
        }
        for (old, new) in [
            ("bigint", "double"),
            ("string", "boolean"),
            ("geometry", "string"),
            ("decimal(10,2)", "decimal(10,4)"),
        ] {
            assert_eq!(
                compare_types(old, new),
                TypeChange::Changed,
                "{old} → {new}"
            );
        }
        assert_eq!(compare_types("Integer", "integer"), TypeChange::Same);
    }
}
