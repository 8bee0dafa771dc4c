//! The JSON parser for request bodies: the same [`Value`] tree as serde_json
//! builds through the visitor in `value.rs`, and the same bodies refused
//! (compared by the property tests below), but cheaper on long strings.
//!
//! serde_json scans a string 8 bytes at a time for `"`, `\` and control
//! characters and then validates it as UTF-8 in a second pass; on 10 KiB
//! PutRecords those two scans of the base64 `Data` were 44% of the server's
//! user-space instructions. Here a plain string (no escape) is found with
//! `memchr2` and checked with one vectorised control-character pass and
//! `simdutf8`. Everything that is rare on the write path, numbers and strings
//! with escapes, is handed to serde_json token by token, so its exact
//! semantics (number types, `-0`, surrogates, escape errors) carry over.

use super::{node_budget, Value};
use std::borrow::Cow;

/// serde_json's recursion limit: a container entered with this many already
/// open fails, so at most 127 levels nest.
const MAX_DEPTH: usize = 128;

/// Parses a JSON body; strings without escapes borrow from `body`. `None`
/// wherever `serde_json::from_slice` into the value tree fails, including
/// the element budget of [`node_budget`].
pub(super) fn parse(body: &[u8]) -> Option<Value<'_>> {
    let mut p = Parser {
        b: body,
        i: 0,
        budget: node_budget(body.len()),
        depth: MAX_DEPTH,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == body.len()).then_some(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// Container elements still allowed (see [`node_budget`]).
    budget: usize,
    /// Levels of nesting still allowed, counted as serde_json counts them.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn spend(&mut self) -> Option<()> {
        self.budget = self.budget.checked_sub(1)?;
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth = self.depth.checked_sub(1).filter(|d| *d > 0)?;
        self.i += 1;
        self.spend()
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Value::Str),
            b'{' => self.map(),
            b'[' => self.array(),
            b't' => self.ident(b"true", Value::Bool(true)),
            b'f' => self.ident(b"false", Value::Bool(false)),
            b'n' => self.ident(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn ident(&mut self, word: &[u8], v: Value<'a>) -> Option<Value<'a>> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| {
            self.i = end;
            v
        })
    }

    /// The longest run of number characters, parsed by serde_json on its own:
    /// a valid number is never followed by one of them, so wherever the run
    /// is not exactly one number, serde_json refuses it here as it would
    /// have refused the body.
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.i += 1;
        }
        let b: &'a [u8] = self.b;
        serde_json::from_slice(&b[start..self.i]).ok()
    }

    fn array(&mut self) -> Option<Value<'a>> {
        self.enter()?;
        let mut out = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
        } else {
            loop {
                out.push(self.value()?);
                self.spend()?;
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.depth += 1;
        Some(Value::Array(out))
    }

    fn map(&mut self) -> Option<Value<'a>> {
        self.enter()?;
        let mut out = Vec::new();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.spend()?;
                self.ws();
                if self.next()? != b':' {
                    return None;
                }
                self.ws();
                out.push((key, self.value()?));
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.depth += 1;
        Some(Value::Map(out))
    }

    /// A string starting at the `"` under the cursor.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let b: &'a [u8] = self.b;
        let start = self.i + 1;
        let n = memchr::memchr2(b'"', b'\\', b.get(start..)?)?;
        let end = start + n;
        if b[end] == b'"' {
            // No escape: borrowed, as serde_json borrows it, once it has no
            // control character and is UTF-8. Both checks vectorise; a minimum
            // reduction (pminub) costs half the instructions of `any(x < 0x20)`.
            self.i = end + 1;
            let text = &b[start..end];
            if text.iter().fold(u8::MAX, |m, &x| m.min(x)) < 0x20 {
                return None;
            }
            return simdutf8::basic::from_utf8(text).ok().map(Cow::Borrowed);
        }
        // An escape: find the closing quote (a `\` always takes the byte after
        // it) and let serde_json decode the token, with its own checks.
        let mut j = end + 2;
        loop {
            let n = memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
            j += n;
            if b[j] == b'"' {
                break;
            }
            j += 2;
        }
        let token = &b[self.i..=j];
        self.i = j + 1;
        match serde_json::from_slice::<Value<'a>>(token).ok()? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What serde_json makes of `body`: the parser this one replaces.
    fn reference(body: &[u8]) -> Option<Value<'_>> {
        super::super::parse_json_serde(body)
    }

    /// Equal trees, and every string borrowed from the same bytes of the body
    /// exactly where serde_json borrows it (the record path relies on it).
    fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
        #[allow(clippy::ptr_arg)] // Borrowed vs Owned is what is compared.
        fn same_str(a: &Cow<'_, str>, b: &Cow<'_, str>) -> bool {
            match (a, b) {
                (Cow::Borrowed(x), Cow::Borrowed(y)) => x.as_ptr() == y.as_ptr() && x == y,
                (Cow::Owned(x), Cow::Owned(y)) => x == y,
                _ => false,
            }
        }
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => same_str(x, y),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((kx, vx), (ky, vy))| same_str(kx, ky) && same(vx, vy))
            }
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    fn check(body: &[u8]) -> Result<(), TestCaseError> {
        let got = parse(body);
        let want = reference(body);
        let agree = match (&got, &want) {
            (Some(g), Some(w)) => same(g, w),
            (None, None) => true,
            _ => false,
        };
        prop_assert!(
            agree,
            "body {:?}: fast {:?}, serde_json {:?}",
            String::from_utf8_lossy(&body[..body.len().min(300)]),
            got,
            want
        );
        Ok(())
    }

    /// Pieces of a string's content that serde_json accepts: plain base64,
    /// long runs that cross SIMD block edges, valid escapes, multi-byte UTF-8.
    fn valid_piece() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            4 => "[A-Za-z0-9+/=]{0,80}".prop_map(String::into_bytes),
            2 => (1usize..20_000).prop_map(|n| b"QUJD".repeat(n / 4 + 1)[..n].to_vec()),
            1 => proptest::sample::select(vec![
                &b"\\\\"[..], b"\\\"", b"\\/", b"\\b", b"\\f", b"\\n", b"\\r", b"\\t",
                b"\\u0041", b"\\u00e9", b"\\uD83D\\uDE00", b"\\u0000", b"\\uFFFF",
                b" ", b"\x7f", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"'",
            ])
            .prop_map(<[u8]>::to_vec),
            1 => ".{0,12}".prop_map(String::into_bytes).prop_filter("no quote, backslash or control", |s| {
                s.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
            }),
        ]
        .boxed()
    }

    /// Pieces serde_json refuses, or that end or break the string: lone and
    /// bad escapes, control characters, bytes that are not UTF-8.
    fn bad_piece() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            proptest::sample::select(vec![
                &b"\\"[..],
                b"\\uD83D",
                b"\\uDE00",
                b"\\uD83Dx",
                b"\\uD83D\\u0041",
                b"\\uZZZZ",
                b"\\u12",
                b"\\x",
                b"\\'",
                b"\\\n",
                b"\\\xc3\xa9",
                b"\"",
            ])
            .prop_map(<[u8]>::to_vec),
            proptest::sample::select(vec![
                &b"\x00"[..],
                b"\x01",
                b"\x1f",
                b"\n",
                b"\t",
                b"\xc3",
                b"\xe2\x82",
                b"\xff",
                b"\x80",
                b"\xed\xa0\x80",
                b"\xc0\xaf",
                b"\xf4\x90\x80\x80",
            ])
            .prop_map(<[u8]>::to_vec),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
        .boxed()
    }

    /// A string's content: valid nine times in ten, else one bad piece
    /// somewhere among valid ones.
    fn string_body() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(valid_piece(), 0..5),
            proptest::option::weighted(0.1, (bad_piece(), any::<prop::sample::Index>())),
        )
            .prop_map(|(mut pieces, bad)| {
                if let Some((b, at)) = bad {
                    pieces.insert(at.index(pieces.len() + 1), b);
                }
                pieces.concat()
            })
    }

    /// Numbers and literals in serde_json's grammar and just outside it.
    const SCALARS: &[&str] = &[
        "0",
        "-0",
        "1",
        "-1",
        "01",
        "-01",
        "1.",
        ".5",
        "1.5",
        "-1.5e3",
        "1E+2",
        "1e-2",
        "1e",
        "1e+",
        "--1",
        "+1",
        "1-2",
        "1.5.5",
        "0x10",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e400",
        "-1e400",
        "123456789012345678901234567890",
        "0.1",
        "2.2250738585072014e-308",
        "5e-324",
        "1e-400",
        "true",
        "false",
        "null",
        "tru",
        "nulll",
        "True",
        "nan",
        "-",
        "-a",
        "1a",
    ];

    /// A JSON-ish document, mostly valid, built from the pieces above.
    fn doc() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            6 => string_body().prop_map(|s| [&b"\""[..], &s, b"\""].concat()),
            1 => string_body().prop_map(|s| [&b"\""[..], &s].concat()),
            2 => proptest::sample::select(SCALARS).prop_map(|s| s.as_bytes().to_vec()),
            1 => any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            1 => any::<f64>().prop_map(|f| format!("{f:e}").into_bytes()),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            let sep = proptest::sample::select(vec![
                &b","[..],
                b",",
                b",",
                b",",
                b",",
                b",",
                b",",
                b" , ",
                b"\n,\t",
                b"",
                b",,",
                b";",
            ]);
            prop_oneof![
                proptest::collection::vec((inner.clone(), sep.clone()), 0..8).prop_map(|items| {
                    let mut out = b"[".to_vec();
                    for (i, (v, s)) in items.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(s);
                        }
                        out.extend_from_slice(v);
                    }
                    out.push(b']');
                    out
                }),
                proptest::collection::vec((string_body(), inner, sep), 0..8).prop_map(|items| {
                    let mut out = b"{ ".to_vec();
                    for (i, (k, v, s)) in items.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(s);
                        }
                        out.push(b'"');
                        out.extend_from_slice(k);
                        out.extend_from_slice(b"\" :\r");
                        out.extend_from_slice(v);
                    }
                    out.extend_from_slice(b" }");
                    out
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_serde_json_on_documents(d in doc(), pre in "[ \t\r\n]{0,2}", post in "[ \t\r\n]{0,2}|x|,|}") {
            check(&[pre.as_bytes(), &d, post.as_bytes()].concat())?;
        }

        #[test]
        fn agrees_with_serde_json_on_single_strings(
            s in proptest::collection::vec(prop_oneof![valid_piece(), bad_piece()], 0..6),
            close in any::<bool>(),
        ) {
            let s = s.concat();
            let body = [&b"\""[..], &s, if close { b"\"" } else { b"" }].concat();
            check(&body)?;
            check(&[&b"{\"Data\":"[..], &body, b"}"].concat())?;
        }

        #[test]
        fn agrees_with_serde_json_on_mutated_documents(
            d in doc(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        ) {
            let mut body = d;
            for (at, byte, kind) in edits {
                if body.is_empty() {
                    body.push(byte);
                    continue;
                }
                let i = at.index(body.len());
                match kind {
                    0 => body[i] = byte,
                    1 => body.insert(i, byte),
                    _ => { body.remove(i); }
                }
            }
            check(&body)?;
        }

        #[test]
        fn agrees_with_serde_json_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            check(&body)?;
        }
    }

    proptest! {
        // Up to 200 KB a case, parsed twice in a debug build: fewer cases.
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agrees_with_serde_json_on_huge_strings_with_one_odd_byte(
            n in 1usize..200_000,
            at in any::<prop::sample::Index>(),
            odd in proptest::sample::select(vec![
                &b"\""[..], b"\\", b"\\n", b"\\u0041", b"\x00", b"\x1f", b"\xc3\xa9", b"\xff", b"\xe2\x82", b"A",
            ]),
        ) {
            let mut s = b"QUJDRA==".repeat(n / 8 + 1);
            s.truncate(n);
            let i = at.index(s.len() + 1);
            s.splice(i..i, odd.iter().copied());
            check(&[&b"{\"Records\":[{\"Data\":\""[..], &s, b"\",\"PartitionKey\":\"k\"}]}"].concat())?;
        }
    }

    /// The generated documents are valid often enough for the comparison to
    /// test more than refusals.
    #[test]
    fn generated_documents_are_often_valid() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = doc();
        let valid = (0..1000)
            .filter(|_| parse(&strategy.new_tree(&mut runner).unwrap().current()).is_some())
            .count();
        assert!(valid > 250, "{valid} of 1000 valid");
    }

    #[test]
    fn scalars_alone_and_nested() {
        for s in SCALARS {
            for body in [
                s.to_string(),
                format!("[{s}]"),
                format!("{{\"a\":{s},\"b\":[1, {s} ]}}"),
            ] {
                let want = reference(body.as_bytes());
                assert_eq!(parse(body.as_bytes()), want, "{body}");
            }
        }
        assert_eq!(
            parse(b"[1E+2,-0,18446744073709551616]"),
            reference(b"[1E+2,-0,18446744073709551616]")
        );
        assert!(parse(b"[1E+2]").is_some());
    }

    #[test]
    fn nesting_limit_is_serde_jsons() {
        for depth in [1, 126, 127, 128, 129, 500] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                let want = reference(body.as_bytes());
                assert_eq!(parse(body.as_bytes()), want, "{open} × {depth}");
                assert_eq!(want.is_some(), depth < 128, "{open} × {depth}");
            }
        }
    }

    #[test]
    fn element_budget_is_the_same() {
        // Exactly at the budget and one over it, for arrays and maps.
        for n in [1000usize, 5000] {
            for pad in 0..8 {
                let body = format!("[{}0]{}", "0,".repeat(n), " ".repeat(pad));
                assert_eq!(
                    parse(body.as_bytes()),
                    reference(body.as_bytes()),
                    "{n} {pad}"
                );
                let body = format!(
                    "{{{}\"z\":0}}{}",
                    (0..n).map(|i| format!("\"{i}\":0,")).collect::<String>(),
                    " ".repeat(pad)
                );
                assert_eq!(
                    parse(body.as_bytes()),
                    reference(body.as_bytes()),
                    "{n} {pad}"
                );
            }
        }
        let dense = format!("{{\"a\":[{}0]}}", "0,".repeat(200_000));
        assert_eq!(parse(dense.as_bytes()), None);
        // [[],[],…]: 1 + 2k elements for k inner arrays, around the budget of
        // a body padded to 12,000 bytes.
        let len = 12_000;
        let b = node_budget(len);
        let mut outcomes = Vec::new();
        for k in b / 2 - 2..=b / 2 + 1 {
            let mut body = format!("[{}[]]", "[],".repeat(k - 1));
            body.push_str(&" ".repeat(len - body.len()));
            let want = reference(body.as_bytes());
            assert_eq!(parse(body.as_bytes()), want, "{k}");
            outcomes.push(want.is_some());
        }
        assert_eq!(outcomes, [true, true, false, false]);
    }

    #[test]
    fn plain_strings_borrow_and_escaped_ones_are_decoded() {
        let body = br#"{"Data":"aGk=","Esc":"a\/b","U":"\u00e9\uD83D\uDE00","N":"\u00e9x"}"#;
        let v = parse(body).unwrap();
        assert!(same(&v, &reference(body).unwrap()));
        let Value::Map(m) = v else { panic!() };
        assert!(matches!(&m[0].1, Value::Str(Cow::Borrowed("aGk="))));
        assert!(matches!(&m[1].1, Value::Str(Cow::Owned(s)) if s == "a/b"));
        assert!(matches!(&m[2].1, Value::Str(Cow::Owned(s)) if s == "é😀"));
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for body in [
            &b""[..],
            b" ",
            b"\"abc",
            b"\"ab\\\"",
            b"\"\\",
            b"\"a\x01\"",
            b"\"\xff\"",
            b"\"\\uD800\"",
            b"[1,]",
            b"{\"a\":1,}",
            b"{a:1}",
            b"{\"a\" 1}",
            b"[1 2]",
            b"{} {}",
            b"01",
            b"-",
            b"1e999",
        ] {
            assert_eq!(parse(body), None, "{}", String::from_utf8_lossy(body));
            assert_eq!(reference(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
