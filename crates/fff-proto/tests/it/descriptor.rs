//! The encoded descriptor set: complete, documented, lint-clean.

use fff_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use std::collections::{BTreeSet, HashMap};

// Field numbers in descriptor.proto, used to build source-info paths.
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const MESSAGE_ENUM: i32 = 4;
const MESSAGE_ONEOF: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

fn fff_files() -> Vec<FileDescriptorProto> {
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    fds.file
        .into_iter()
        .filter(|f| f.package().starts_with("fff."))
        .collect()
}

#[test]
fn contains_all_five_services_and_the_common_package() {
    let files = fff_files();
    let services: BTreeSet<String> = files
        .iter()
        .flat_map(|f| {
            f.service
                .iter()
                .map(move |s| format!("{}.{}", f.package(), s.name()))
        })
        .collect();
    let expected = [
        "fff.executor.v1.Executor",
        "fff.gateway.v1.Gateway",
        "fff.rebalancer.v1.Rebalancer",
        "fff.risk.v1.Risk",
        "fff.scanner.v1.Scanner",
    ];
    assert_eq!(services, expected.iter().map(|s| s.to_string()).collect());
    assert!(files.iter().any(|f| f.package() == "fff.common.v1"));
}

#[test]
fn imports_are_included_for_reflection() {
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    assert!(
        fds.file
            .iter()
            .any(|f| f.name() == "google/protobuf/timestamp.proto")
    );
}

#[test]
fn packages_match_directories() {
    for file in fff_files() {
        let dir = file.package().replace('.', "/");
        let name = file.package().split('.').nth(1).unwrap().to_owned();
        assert_eq!(file.name(), format!("{dir}/{name}.proto"));
    }
}

/// Source-info paths of every declared element, with a readable name.
fn elements(file: &FileDescriptorProto) -> Vec<(Vec<i32>, String)> {
    fn message(path: Vec<i32>, msg: &DescriptorProto, out: &mut Vec<(Vec<i32>, String)>) {
        out.push((path.clone(), msg.name().to_owned()));
        for (i, field) in msg.field.iter().enumerate() {
            out.push((
                child(&path, MESSAGE_FIELD, i),
                format!("{}.{}", msg.name(), field.name()),
            ));
        }
        for (i, oneof) in msg.oneof_decl.iter().enumerate() {
            // proto3 `optional` creates a synthetic oneof that has no comment of its own.
            if !oneof.name().starts_with('_') {
                out.push((
                    child(&path, MESSAGE_ONEOF, i),
                    format!("{}.{}", msg.name(), oneof.name()),
                ));
            }
        }
        for (i, nested) in msg.nested_type.iter().enumerate() {
            message(child(&path, MESSAGE_NESTED, i), nested, out);
        }
        for (i, e) in msg.enum_type.iter().enumerate() {
            enumeration(child(&path, MESSAGE_ENUM, i), e, out);
        }
    }
    fn enumeration(path: Vec<i32>, e: &EnumDescriptorProto, out: &mut Vec<(Vec<i32>, String)>) {
        out.push((path.clone(), e.name().to_owned()));
        for (i, value) in e.value.iter().enumerate() {
            out.push((child(&path, ENUM_VALUE, i), value.name().to_owned()));
        }
    }
    fn child(path: &[i32], kind: i32, index: usize) -> Vec<i32> {
        let mut p = path.to_vec();
        p.extend([kind, i32::try_from(index).unwrap()]);
        p
    }

    let mut out = Vec::new();
    for (i, msg) in file.message_type.iter().enumerate() {
        message(child(&[], FILE_MESSAGE, i), msg, &mut out);
    }
    for (i, e) in file.enum_type.iter().enumerate() {
        enumeration(child(&[], FILE_ENUM, i), e, &mut out);
    }
    for (i, service) in file.service.iter().enumerate() {
        out.push((child(&[], FILE_SERVICE, i), service.name().to_owned()));
        for (j, method) in service.method.iter().enumerate() {
            let path = child(&child(&[], FILE_SERVICE, i), SERVICE_METHOD, j);
            out.push((path, format!("{}.{}", service.name(), method.name())));
        }
    }
    out
}

#[test]
fn every_element_is_documented() {
    let mut undocumented = Vec::new();
    for file in fff_files() {
        let info = file.source_code_info.as_ref().expect("source info is kept");
        let comments: HashMap<&[i32], &str> = info
            .location
            .iter()
            .map(|l| (l.path.as_slice(), l.leading_comments()))
            .collect();
        for (path, name) in elements(&file) {
            let documented = comments
                .get(path.as_slice())
                .is_some_and(|c| !c.trim().is_empty());
            if !documented {
                undocumented.push(format!("{}: {name}", file.name()));
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
}

#[test]
fn enums_follow_the_buf_default_style() {
    for file in fff_files() {
        let mut enums: Vec<EnumDescriptorProto> = file.enum_type.clone();
        let mut stack: Vec<DescriptorProto> = file.message_type.clone();
        while let Some(msg) = stack.pop() {
            enums.extend(msg.enum_type.iter().cloned());
            stack.extend(msg.nested_type.iter().cloned());
        }
        for e in enums {
            let prefix = upper_snake(e.name());
            let zero = e.value.iter().find(|v| v.number() == 0).unwrap();
            assert_eq!(zero.name(), format!("{prefix}_UNSPECIFIED"), "{}", e.name());
            for value in &e.value {
                assert!(
                    value.name().starts_with(&format!("{prefix}_")),
                    "{}",
                    value.name()
                );
            }
        }
    }
}

#[test]
fn rpc_messages_are_named_after_their_method() {
    for file in fff_files() {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                assert_eq!(
                    method.input_type(),
                    format!(".{package}.{}Request", method.name())
                );
                assert_eq!(
                    method.output_type(),
                    format!(".{package}.{}Response", method.name())
                );
            }
        }
    }
}

fn upper_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// Heuristic guard for the decimal-string convention: a string field whose
/// name says it holds an amount, price or rate must be documented as one, and
/// only string fields may claim to be decimal strings.
#[test]
fn numeric_fields_are_documented_decimal_strings() {
    use prost_types::field_descriptor_proto::Type;
    const NUMERIC_TOKENS: &[&str] = &[
        "price",
        "qty",
        "quantity",
        "amount",
        "rate",
        "notional",
        "balance",
        "pnl",
        "ratio",
        "level",
        "equity",
        "score",
        "weight",
        "fraction",
        "apr",
        "drift",
        "delta",
        "interest",
        "borrowed",
        "fee",
        "fees",
        "commission",
        "volume",
        "basis",
        "utilization",
        "capacity",
        "contribution",
        "normalized",
        "usdt",
        "free",
        "locked",
        "principal",
        "reserve",
    ];
    const NOT_NUMERIC: &[&str] = &["commission_asset", "funding_events", "execution_type"];
    let mut wrong = Vec::new();
    for file in fff_files() {
        let info = file.source_code_info.as_ref().unwrap();
        let comments: HashMap<&[i32], &str> = info
            .location
            .iter()
            .map(|l| (l.path.as_slice(), l.leading_comments()))
            .collect();
        let mut stack: Vec<(Vec<i32>, &DescriptorProto)> = file
            .message_type
            .iter()
            .enumerate()
            .map(|(i, m)| (vec![FILE_MESSAGE, i32::try_from(i).unwrap()], m))
            .collect();
        while let Some((path, msg)) = stack.pop() {
            for (i, nested) in msg.nested_type.iter().enumerate() {
                let mut p = path.clone();
                p.extend([MESSAGE_NESTED, i32::try_from(i).unwrap()]);
                stack.push((p, nested));
            }
            for (i, field) in msg.field.iter().enumerate() {
                let mut p = path.clone();
                p.extend([MESSAGE_FIELD, i32::try_from(i).unwrap()]);
                let says_decimal = comments
                    .get(p.as_slice())
                    .is_some_and(|c| c.trim_start().starts_with("Decimal string."));
                let is_string = field.r#type() == Type::String;
                let looks_numeric = !NOT_NUMERIC.contains(&field.name())
                    && field.name().split('_').any(|t| NUMERIC_TOKENS.contains(&t));
                if (says_decimal && !is_string) || (is_string && looks_numeric && !says_decimal) {
                    wrong.push(format!("{}.{}", msg.name(), field.name()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "decimal-string convention broken: {wrong:#?}"
    );
}
