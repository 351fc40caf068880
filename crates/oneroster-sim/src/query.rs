//! Query parameters of collection requests: paging, filter, sort, fields.

use percent_encoding::percent_decode_str;

use crate::encode::{Ctx, Kind};

/// A request the client got wrong; maps onto a OneRoster error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub code_minor: &'static str,
    pub description: String,
}

fn bad(code_minor: &'static str, description: impl Into<String>) -> BadRequest {
    BadRequest {
        code_minor,
        description: description.into(),
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space).
pub fn decode_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_decode_str(&s).decode_utf8_lossy().into_owned()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Predicate {
    pub field: String,
    pub op: Op,
    pub value: String,
    /// The value as seconds, for dateLastModified.
    pub secs: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Join {
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    pub first: Predicate,
    pub second: Option<(Join, Predicate)>,
}

/// Parses `field op 'value' [AND|OR field op 'value']`.
pub fn parse_filter(s: &str) -> Result<Filter, BadRequest> {
    let mut rest = s.trim();
    let first = parse_predicate(&mut rest)?;
    rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(Filter {
            first,
            second: None,
        });
    }
    let (join, after) = if let Some(r) = strip_word(rest, "AND") {
        (Join::And, r)
    } else if let Some(r) = strip_word(rest, "OR") {
        (Join::Or, r)
    } else {
        return Err(bad(
            "invalid_filter_field",
            "filter: expected AND or OR between two predicates",
        ));
    };
    rest = after.trim_start();
    let second = parse_predicate(&mut rest)?;
    if !rest.trim().is_empty() {
        return Err(bad(
            "invalid_filter_field",
            "filter: at most two predicates are supported",
        ));
    }
    Ok(Filter {
        first,
        second: Some((join, second)),
    })
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let tail = &s[word.len()..];
    (head.eq_ignore_ascii_case(word) && tail.starts_with(char::is_whitespace)).then_some(tail)
}

fn parse_predicate(rest: &mut &str) -> Result<Predicate, BadRequest> {
    let s = rest.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let field = &s[..end];
    if field.is_empty() {
        return Err(bad("invalid_filter_field", "filter: expected a field name"));
    }
    let s = s[end..].trim_start();
    let (op, s) = [
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ]
    .iter()
    .find_map(|(t, op)| s.strip_prefix(t).map(|r| (*op, r)))
    .ok_or_else(|| {
        bad(
            "invalid_filter_field",
            "filter: expected one of = != > >= < <=",
        )
    })?;
    let s = s.trim_start();
    let s = s.strip_prefix('\'').ok_or_else(|| {
        bad(
            "invalid_filter_field",
            "filter: values must be in single quotes",
        )
    })?;
    let close = s
        .find('\'')
        .ok_or_else(|| bad("invalid_filter_field", "filter: unterminated quoted value"))?;
    let value = s[..close].to_string();
    *rest = &s[close + 1..];
    let secs = if field == "dateLastModified" {
        Some(crate::dates::parse_timestamp(&value).ok_or_else(|| {
            bad(
                "invalid_filter_field",
                "filter: dateLastModified needs an ISO 8601 date or timestamp",
            )
        })?)
    } else {
        None
    };
    Ok(Predicate {
        field: field.to_string(),
        op,
        value,
        secs,
    })
}

impl Filter {
    pub fn validate(&self, kind: Kind) -> Result<(), BadRequest> {
        for p in std::iter::once(&self.first).chain(self.second.as_ref().map(|(_, p)| p)) {
            if !kind.fields().contains(&p.field.as_str()) {
                return Err(bad(
                    "invalid_filter_field",
                    format!("filter: {} has no field {:?}", kind.plural_key(), p.field),
                ));
            }
        }
        Ok(())
    }

    pub fn matches(&self, ctx: &mut Ctx<'_>, kind: Kind, i: u32) -> bool {
        let a = self.first.matches(ctx, kind, i);
        match &self.second {
            None => a,
            Some((Join::And, p)) => a && p.matches(ctx, kind, i),
            Some((Join::Or, p)) => a || p.matches(ctx, kind, i),
        }
    }
}

impl Predicate {
    fn matches(&self, ctx: &mut Ctx<'_>, kind: Kind, i: u32) -> bool {
        match self.field.as_str() {
            "status" => self
                .op
                .holds(kind.status(ctx.ds, i).as_str().cmp(self.value.as_str())),
            "dateLastModified" => {
                let m = i64::from(kind.modified(ctx.ds, i));
                self.op.holds(m.cmp(&self.secs.unwrap_or(0)))
            }
            "sourcedId" => self
                .op
                .holds(kind.ids(ctx.ds).get(i).as_str().cmp(self.value.as_str())),
            field => match ctx.field_value(kind, i, field) {
                serde_json::Value::String(s) => self.op.holds(s.as_str().cmp(self.value.as_str())),
                serde_json::Value::Number(n) => {
                    match (n.as_f64(), self.value.parse::<f64>().ok()) {
                        (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| self.op.holds(o)),
                        _ => false,
                    }
                }
                serde_json::Value::Bool(b) => self
                    .op
                    .holds(b.to_string().as_str().cmp(self.value.as_str())),
                // Lists match when any element's text (or sourcedId) matches.
                serde_json::Value::Array(items) => {
                    let any = items.iter().any(|v| {
                        let s = v
                            .as_str()
                            .or_else(|| v.get("sourcedId").and_then(|x| x.as_str()))
                            .unwrap_or("");
                        s == self.value
                    });
                    match self.op {
                        Op::Eq => any,
                        Op::Ne => !any,
                        _ => false,
                    }
                }
                serde_json::Value::Object(o) => {
                    let s = o.get("sourcedId").and_then(|x| x.as_str()).unwrap_or("");
                    self.op.holds(s.cmp(self.value.as_str()))
                }
                serde_json::Value::Null => self.op == Op::Ne,
            },
        }
    }
}

/// Parsed query of a collection request.
#[derive(Clone, Debug)]
pub struct Query {
    /// All pairs as received (decoded), for Link headers.
    pub pairs: Vec<(String, String)>,
    pub limit: u64,
    pub offset: u64,
    pub filter: Option<Filter>,
    pub sort: Option<String>,
    pub descending: bool,
    pub fields: Option<Vec<String>>,
}

pub const DEFAULT_LIMIT: u64 = 100;

pub fn parse_query(raw: Option<&str>, max_limit: u32) -> Result<Query, BadRequest> {
    let pairs = raw.map(decode_pairs).unwrap_or_default();
    let mut q = Query {
        pairs: pairs.clone(),
        limit: DEFAULT_LIMIT.min(u64::from(max_limit)),
        offset: 0,
        filter: None,
        sort: None,
        descending: false,
        fields: None,
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("invalid_data", format!("limit {v:?} is not a number")))?;
                // Above the maximum: clamp. Zero or negative: the default.
                q.limit = if n <= 0 {
                    DEFAULT_LIMIT.min(u64::from(max_limit))
                } else {
                    (n as u64).min(u64::from(max_limit))
                };
            }
            "offset" => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("invalid_data", format!("offset {v:?} is not a number")))?;
                if n < 0 {
                    return Err(bad("invalid_data", "offset must not be negative"));
                }
                q.offset = n as u64;
            }
            "filter" => q.filter = Some(parse_filter(v)?),
            "sort" => q.sort = Some(v.trim().to_string()).filter(|s| !s.is_empty()),
            "orderBy" => q.descending = v.trim().eq_ignore_ascii_case("desc"),
            "fields" => {
                let list: Vec<String> = v.split(',').map(|f| f.trim().to_string()).collect();
                if list.iter().any(|f| f.is_empty()) {
                    return Err(bad("invalid_selection_field", "fields: blank field name"));
                }
                q.fields = Some(list);
            }
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_predicates() {
        let f = parse_filter("status='active' AND dateLastModified>'2026-01-01T00:00:00Z'")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(f.first.field, "status");
        assert_eq!(f.first.op, Op::Eq);
        let (join, p) = f.second.unwrap_or_else(|| panic!("second"));
        assert_eq!(join, Join::And);
        assert_eq!(p.op, Op::Gt);
        assert!(p.secs.is_some());
    }

    #[test]
    fn rejects_bad_filters() {
        for f in [
            "status=active",
            "status~'a'",
            "status='a' XOR status='b'",
            "='x'",
            "status='a",
            "dateLastModified>'soon'",
        ] {
            assert!(parse_filter(f).is_err(), "{f}");
        }
    }

    #[test]
    fn limit_clamps() {
        let q =
            parse_query(Some("limit=50000&offset=10"), 10_000).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((q.limit, q.offset), (10_000, 10));
        assert!(parse_query(Some("limit=abc"), 10).is_err());
    }
}
