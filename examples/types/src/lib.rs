//! Echo every WIT value kind, plus a few functions with real behaviour.
//! Built with plain `cargo build --target wasm32-wasip2` and wit-bindgen.

wit_bindgen::generate!({ path: "wit", world: "types" });

use exports::example::types::kinds::{
    Color, Counter, Guest as Kinds, GuestCounter, MathError, Permissions, Person, Point, Shape,
};

struct Types;

struct CounterImpl(u32);

impl GuestCounter for CounterImpl {
    fn new(start: u32) -> Self {
        CounterImpl(start)
    }

    fn get(&self) -> u32 {
        self.0
    }
}

impl Kinds for Types {
    type Counter = CounterImpl;

    fn echo_bool(v: bool) -> bool {
        v
    }
    fn echo_s8(v: i8) -> i8 {
        v
    }
    fn echo_u8(v: u8) -> u8 {
        v
    }
    fn echo_s16(v: i16) -> i16 {
        v
    }
    fn echo_u16(v: u16) -> u16 {
        v
    }
    fn echo_s32(v: i32) -> i32 {
        v
    }
    fn echo_u32(v: u32) -> u32 {
        v
    }
    fn echo_s64(v: i64) -> i64 {
        v
    }
    fn echo_u64(v: u64) -> u64 {
        v
    }
    fn echo_f32(v: f32) -> f32 {
        v
    }
    fn echo_f64(v: f64) -> f64 {
        v
    }
    fn echo_char(v: char) -> char {
        v
    }
    fn echo_string(v: String) -> String {
        v
    }
    fn echo_bytes(v: Vec<u8>) -> Vec<u8> {
        v
    }
    fn echo_points(v: Vec<Point>) -> Vec<Point> {
        v
    }
    fn echo_person(v: Person) -> Person {
        v
    }
    fn echo_tuple(v: (String, u32, bool)) -> (String, u32, bool) {
        v
    }
    fn echo_shape(v: Shape) -> Shape {
        v
    }
    fn echo_color(v: Color) -> Color {
        v
    }
    fn echo_permissions(v: Permissions) -> Permissions {
        v
    }
    fn echo_option(v: Option<u32>) -> Option<u32> {
        v
    }
    fn echo_nested_option(v: Option<Option<String>>) -> Option<Option<String>> {
        v
    }
    fn echo_results(v: Vec<Result<String, u32>>) -> Vec<Result<String, u32>> {
        v
    }

    fn divide(a: f64, b: f64) -> Result<f64, MathError> {
        if b == 0.0 {
            return Err(MathError::DivisionByZero);
        }
        let q = a / b;
        if q.is_finite() {
            Ok(q)
        } else {
            Err(MathError::NotFinite(q))
        }
    }

    fn area(shape: Shape) -> f64 {
        match shape {
            Shape::Circle(r) => std::f64::consts::PI * r * r,
            Shape::Rectangle(p) => f64::from(p.x) * f64::from(p.y),
            Shape::Empty => 0.0,
        }
    }

    fn describe(who: Person, greeting: Option<String>) -> String {
        let greeting = greeting.unwrap_or_else(|| "Hi".to_string());
        let email = who.email.map(|e| format!(" <{e}>")).unwrap_or_default();
        format!(
            "{greeting} {}{email}, {} [{}]",
            who.name,
            who.age,
            who.tags.join(",")
        )
    }

    fn nothing() {}

    fn make_counter(start: u32) -> Counter {
        Counter::new(CounterImpl(start))
    }
}

impl Guest for Types {
    fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

export!(Types);
