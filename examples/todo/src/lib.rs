//! A todo list on the host's key-value store: each todo is JSON under `todo/{id}` in
//! bucket `todos` (granted in tsdev.toml), ids come from an atomic counter.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "todo-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use exports::example::todo::todos::{Guest, Todo};
use sdk_guest::kv::Bucket;
use serde::{Deserialize, Serialize};

/// A todo as stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: u64,
    title: String,
    done: bool,
}

impl From<Stored> for Todo {
    fn from(s: Stored) -> Todo {
        Todo {
            id: s.id,
            title: s.title,
            done: s.done,
        }
    }
}

fn bucket() -> Result<Bucket, String> {
    Bucket::open("todos").map_err(|e| format!("opening the todos bucket: {e:?}"))
}

/// Zero-padded, so that keys sort as ids do.
fn key(id: u64) -> String {
    format!("todo/{id:020}")
}

fn load(bucket: &Bucket, id: u64) -> Result<Stored, String> {
    bucket
        .get_json::<Stored>(&key(id))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no todo {id}"))
}

struct Todos;

impl Guest for Todos {
    fn add(title: String) -> Result<Todo, String> {
        if title.trim().is_empty() {
            return Err("a todo needs a title".into());
        }
        let bucket = bucket()?;
        let id = bucket
            .increment("next-id", 1)
            .map_err(|e| format!("{e:?}"))? as u64;
        let todo = Stored {
            id,
            title,
            done: false,
        };
        bucket.set_json(&key(id), &todo).map_err(|e| e.to_string())?;
        Ok(todo.into())
    }

    fn all() -> Result<Vec<Todo>, String> {
        let bucket = bucket()?;
        let keys = bucket.keys("todo/").map_err(|e| format!("{e:?}"))?;
        let mut todos = Vec::with_capacity(keys.len());
        for key in keys {
            // A todo removed since the keys were listed is left out.
            if let Some(todo) = bucket.get_json::<Stored>(&key).map_err(|e| e.to_string())? {
                todos.push(todo.into());
            }
        }
        Ok(todos)
    }

    fn get(id: u64) -> Result<Todo, String> {
        load(&bucket()?, id).map(Todo::from)
    }

    fn complete(id: u64) -> Result<Todo, String> {
        let bucket = bucket()?;
        let mut todo = load(&bucket, id)?;
        todo.done = true;
        bucket.set_json(&key(id), &todo).map_err(|e| e.to_string())?;
        Ok(todo.into())
    }

    fn remove(id: u64) -> Result<(), String> {
        let bucket = bucket()?;
        load(&bucket, id)?;
        bucket.delete(&key(id)).map_err(|e| format!("{e:?}"))
    }
}

export!(Todos);
