//! Fuzzes the Tunnel record decoder: the first input byte picks a schema, the rest is a block
//! body (or, for odd selector bytes, a zlib body to inflate first). The decoder must never
//! panic; and whatever it accepts must re-encode (when valid for the encoder) to a body that
//! decodes to the same rows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use maxcompute_core::codec::{decode_block, encode_block, inflate};
use maxcompute_core::types::OdpsType;

const SCHEMAS: [&str; 4] = [
    "string,bigint,bigint,string,string",
    "boolean,tinyint,smallint,int,float,double,varchar(4),char(2),binary,json,decimal(10,2),date,datetime,timestamp,timestamp_ntz",
    "array<bigint>,map<string,array<double>>,struct<a:int,b:struct<c:string,d:timestamp>>",
    "map<varchar(3),decimal(5,2)>,array<array<boolean>>,string",
];

fn types(selector: u8) -> Vec<OdpsType> {
    let spec = SCHEMAS
        .get(usize::from(selector / 2) % SCHEMAS.len())
        .copied()
        .unwrap_or("");
    let mut out = Vec::new();
    // Split on top-level commas only.
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in spec.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                if let Some(Ok(t)) = spec.get(start..i).map(str::parse) {
                    out.push(t);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some(Ok(t)) = spec.get(start..).map(str::parse) {
        out.push(t);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let types = types(selector);
    let inflated;
    let body = if selector % 2 == 1 {
        match inflate(body, 1 << 20) {
            Ok(b) => {
                inflated = b;
                &inflated[..]
            }
            Err(_) => return,
        }
    } else {
        body
    };
    let Ok(rows) = decode_block(&types, body) else {
        return;
    };
    // The decoder is more lenient than the encoder (it does not check VARCHAR lengths or
    // DECIMAL precision), so only re-check what the encoder accepts.
    if let Ok(again) = encode_block(&types, &rows) {
        let back = decode_block(&types, &again).expect("re-encoded block decodes");
        // Compare by re-encoding: floats compare by bits that way (NaN, -0.0).
        assert_eq!(encode_block(&types, &back).ok(), Some(again));
    }
});
