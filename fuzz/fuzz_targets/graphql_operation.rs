//! Valid-looking GraphQL operations, generated from our own schema (its SDL): fields that exist,
//! arguments of the right types with edge values (`first: 2147483647`, huge decimals, empty
//! strings), aliases, nesting past the depth limit, inline fragments and `@include`/`@skip`.
//! Byte-level fuzzing (`graphql_request`) seldom gets past validation; these mostly do, so the
//! depth and complexity limits, including our own complexity functions, are exercised.
//!
//! Properties: parsing and validation never panic (overflow checks are on); an operation nested
//! deeper than `MAX_DEPTH` is always refused; every response serialises.
#![no_main]

#[path = "common/schema.rs"]
mod schema;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Once};

use api::graphql::MAX_DEPTH;
use arbitrary::{Result, Unstructured};
use async_graphql::Request;
use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use libfuzzer_sys::fuzz_target;

/// Generated operations nest up to this deep: past the limit, to check it holds.
const MAX_GENERATED_DEPTH: usize = MAX_DEPTH + 3;

/// With `FUZZ_SMALL_INTS=1`, integer arguments stay within ±10 000: a run can then look past a
/// known overflow on huge `first` values (docs/reliability-fuzzing.md) for other failures.
static SMALL_INTS: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("FUZZ_SMALL_INTS").is_some_and(|v| v == "1"));

/// The type definitions of our schema, by name.
static TYPES: LazyLock<HashMap<String, TypeKind>> = LazyLock::new(|| {
    let sdl = api::graphql::sdl();
    let document = async_graphql::parser::parse_schema(&sdl).expect("our SDL parses");
    document
        .definitions
        .into_iter()
        .filter_map(|definition| match definition {
            TypeSystemDefinition::Type(t) => Some((t.node.name.node.to_string(), t.node.kind)),
            _ => None,
        })
        .collect()
});

struct Generator<'a, 'u> {
    u: &'a mut Unstructured<'u>,
    out: String,
    /// The deepest field written, counting as async-graphql's depth limit does.
    depth: usize,
    aliases: usize,
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Whether a field of this type needs a selection set.
fn is_composite(ty: &Type) -> bool {
    !fields_of(named(ty)).is_empty() || matches!(TYPES.get(named(ty)), Some(TypeKind::Union(_)))
}

fn fields_of(type_name: &str) -> &'static [async_graphql::Positioned<FieldDefinition>] {
    match TYPES.get(type_name) {
        Some(TypeKind::Object(object)) => &object.fields,
        Some(TypeKind::Interface(interface)) => &interface.fields,
        _ => &[],
    }
}

impl Generator<'_, '_> {
    fn operation(&mut self) -> Result<()> {
        let (keyword, root) = match self.u.int_in_range(0..=19)? {
            0..=13 => ("query", "Query"),
            14..=18 => ("mutation", "Mutation"),
            _ => ("subscription", "Subscription"),
        };
        self.out.push_str(keyword);
        if self.u.ratio(1, 4)? {
            self.out.push_str(" Op");
        }
        self.out.push(' ');
        self.selection_set(root, 0)
    }

    /// `{ ... }` of 1-4 fields of `type_name`, whose fields sit at depth `depth + 1`.
    fn selection_set(&mut self, type_name: &str, depth: usize) -> Result<()> {
        self.out.push_str("{ ");
        if let Some(TypeKind::Union(union)) = TYPES.get(type_name) {
            for member in &union.members {
                let _ = write!(self.out, "... on {} ", member.node);
                self.selection_set(member.node.as_str(), depth)?;
            }
            self.out.push_str("} ");
            return Ok(());
        }
        let fields = fields_of(type_name);
        let nested: Vec<_> = fields
            .iter()
            .filter(|f| is_composite(&f.node.ty.node))
            .collect();
        let count = self.u.int_in_range(1..=4)?;
        for _ in 0..count {
            // Nested fields half of the time: depth, aliases and `first` multiply there.
            let field = if !nested.is_empty() && self.u.arbitrary::<bool>()? {
                &self.u.choose(&nested)?.node
            } else {
                &self.u.choose(fields)?.node
            };
            let composite = is_composite(&field.ty.node);
            if composite && depth + 1 >= MAX_GENERATED_DEPTH {
                // No room for a nested selection: end the branch with a leaf.
                self.depth = self.depth.max(depth + 1);
                self.out.push_str("__typename ");
                continue;
            }
            if self.u.ratio(1, 4)? {
                self.aliases += 1;
                let _ = write!(self.out, "a{}: ", self.aliases);
            }
            self.out.push_str(field.name.node.as_str());
            self.arguments(&field.arguments)?;
            self.directive()?;
            self.out.push(' ');
            self.depth = self.depth.max(depth + 1);
            if composite {
                if self.u.ratio(1, 6)? {
                    // The same selection through an inline fragment on the field's own type.
                    let inner = named(&field.ty.node).to_owned();
                    let _ = write!(self.out, "{{ ... on {inner} ");
                    self.selection_set(&inner, depth + 1)?;
                    self.out.push_str("} ");
                } else {
                    self.selection_set(named(&field.ty.node), depth + 1)?;
                }
            }
        }
        self.out.push_str("} ");
        Ok(())
    }

    fn arguments(
        &mut self,
        arguments: &[async_graphql::Positioned<InputValueDefinition>],
    ) -> Result<()> {
        let mut first = true;
        for argument in arguments {
            let argument = &argument.node;
            let required = !argument.ty.node.nullable && argument.default_value.is_none();
            if !required && self.u.ratio(1, 3)? {
                continue;
            }
            self.out.push_str(if first { "(" } else { ", " });
            first = false;
            let _ = write!(self.out, "{}: ", argument.name.node);
            self.value(&argument.ty.node, 0)?;
        }
        if !first {
            self.out.push(')');
        }
        Ok(())
    }

    fn directive(&mut self) -> Result<()> {
        match self.u.int_in_range(0..=11)? {
            0 => self.out.push_str(" @include(if: true)"),
            1 => self.out.push_str(" @skip(if: false)"),
            2 => self.out.push_str(" @skip(if: true)"),
            _ => {}
        }
        Ok(())
    }

    fn value(&mut self, ty: &Type, nesting: usize) -> Result<()> {
        if ty.nullable && self.u.ratio(1, 10)? {
            self.out.push_str("null");
            return Ok(());
        }
        match &ty.base {
            BaseType::List(inner) => {
                self.out.push('[');
                let items = if nesting > 3 {
                    0
                } else {
                    self.u.int_in_range(0..=3)?
                };
                for i in 0..items {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(inner, nesting + 1)?;
                }
                self.out.push(']');
            }
            BaseType::Named(name) => self.named_value(name.as_str(), nesting)?,
        }
        Ok(())
    }

    fn named_value(&mut self, name: &str, nesting: usize) -> Result<()> {
        match name {
            "Int" => {
                let value = self.int()?;
                let _ = write!(self.out, "{value}");
            }
            "Float" => {
                let value: f64 = self.u.arbitrary()?;
                let _ = write!(self.out, "{}", if value.is_finite() { value } else { 1.5 });
            }
            "Boolean" => self
                .out
                .push_str(if self.u.arbitrary()? { "true" } else { "false" }),
            "ID" => {
                let id = match self.u.int_in_range(0..=3)? {
                    0 => self.u.arbitrary::<String>()?,
                    _ => self.int()?.to_string(),
                };
                self.string(&id);
            }
            "Decimal" => {
                let text = *self.u.choose(&[
                    "0",
                    "1.5",
                    "-1",
                    "100.0001",
                    "1e3",
                    "10000000000000",
                    "79228162514264337593543950335",
                    "",
                ])?;
                let text = if self.u.ratio(1, 4)? {
                    self.u.arbitrary::<String>()?
                } else {
                    text.to_owned()
                };
                self.string(&text);
            }
            "NaiveDate" => {
                let text = *self.u.choose(&[
                    "2030-01-01",
                    "1970-01-01",
                    "9999-12-31",
                    "2030-02-30",
                    "",
                ])?;
                self.string(text);
            }
            "DateTime" => {
                let text =
                    *self
                        .u
                        .choose(&["2030-01-01T00:00:00Z", "1970-01-01T00:00:00+14:00", "x"])?;
                self.string(text);
            }
            "String" | "JSON" => {
                let text = match self.u.int_in_range(0..=3)? {
                    0 => String::new(),
                    1 => "x".repeat(self.u.int_in_range(1..=300)?),
                    _ => self.u.arbitrary::<String>()?,
                };
                self.string(&text);
            }
            other => match TYPES.get(other) {
                Some(TypeKind::Enum(e)) => {
                    let value = &self.u.choose(&e.values)?.node.value.node;
                    self.out.push_str(value.as_str());
                }
                Some(TypeKind::InputObject(input)) if nesting < 4 => {
                    self.out.push('{');
                    let mut first = true;
                    for field in &input.fields {
                        let field = &field.node;
                        let required = !field.ty.node.nullable && field.default_value.is_none();
                        if !required && !self.u.arbitrary::<bool>()? {
                            continue;
                        }
                        if !first {
                            self.out.push_str(", ");
                        }
                        first = false;
                        let _ = write!(self.out, "{}: ", field.name.node);
                        self.value(&field.ty.node, nesting + 1)?;
                    }
                    self.out.push('}');
                }
                _ => self.out.push_str("null"),
            },
        }
        Ok(())
    }

    fn int(&mut self) -> Result<i64> {
        // Mostly the edges: limits are where the bugs are.
        let value = match self.u.int_in_range(0..=11)? {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => 20,
            4 => 100,
            5 => 101,
            6 | 7 => i64::from(i32::MAX),
            8 => i64::from(i32::MIN),
            9 => 1 << 30,
            _ => i64::from(self.u.arbitrary::<i32>()?),
        };
        Ok(if *SMALL_INTS {
            value.clamp(-10_000, 10_000)
        } else {
            value
        })
    }

    fn string(&mut self, text: &str) {
        self.out
            .push_str(&serde_json::to_string(text).expect("strings serialise"));
    }
}

thread_local! {
    /// The operation being checked, for the panic hook.
    static OPERATION: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `query` for the panic hook, installing the hook on first use (after libfuzzer-sys's
/// own, which aborts: it runs after this one prints).
fn show_operation_on_panic(query: &str) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            OPERATION.with(|operation| {
                if let Ok(operation) = operation.try_borrow() {
                    eprintln!("panicked on the operation: {operation}");
                }
            });
            next(info);
        }));
    });
    OPERATION.with(|operation| query.clone_into(&mut operation.borrow_mut()));
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut generator = Generator {
        u: &mut u,
        out: String::new(),
        depth: 0,
        aliases: 0,
    };
    if generator.operation().is_err() {
        return;
    }
    let (query, depth) = (generator.out, generator.depth);
    // The crash artifact holds the generator's bytes, not the operation: a panic (in the schema
    // or in our checks) prints the operation first, so the log has the GraphQL text.
    show_operation_on_panic(&query);
    for schema in schema::SCHEMAS.iter() {
        let response = schema::check(schema, Request::new(query.clone()));
        if depth > MAX_DEPTH {
            assert!(
                !response.errors.is_empty(),
                "depth {depth} > {MAX_DEPTH} was accepted: {query}"
            );
        }
    }
});
