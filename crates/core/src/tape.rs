//! A small view over simd-json's tape: objects and arrays as slices of [`Node`]s, walked without
//! allocating.
//!
//! simd-json's own tape `Value` hides its node slice; working on the public [`Node`]s directly
//! lets the mapper write a value out in one pass and know how many nodes it spans.

use simd_json::{Node, StaticNode};

/// One JSON value on the tape: its first node and, for objects and arrays, everything inside.
#[derive(Clone, Copy, Debug)]
pub struct Val<'t, 'de>(pub(crate) &'t [Node<'de>]);

/// A JSON object on the tape.
#[derive(Clone, Copy, Debug)]
pub struct Obj<'t, 'de>(&'t [Node<'de>]);

/// A JSON array on the tape.
#[derive(Clone, Copy, Debug)]
pub struct Arr<'t, 'de>(&'t [Node<'de>]);

/// How many nodes a value starting with `n` spans, itself included.
#[inline]
pub(crate) fn span(n: &Node<'_>) -> usize {
    match n {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

impl<'t, 'de> Val<'t, 'de> {
    /// Splits the value that starts `nodes` from what follows it.
    #[inline]
    pub(crate) fn split(nodes: &'t [Node<'de>]) -> Option<(Self, &'t [Node<'de>])> {
        let n = span(nodes.first()?);
        let (head, tail) = nodes.split_at_checked(n)?;
        Some((Val(head), tail))
    }

    /// The value's first node.
    #[inline]
    pub fn node(&self) -> &'t Node<'de> {
        &self.0[0]
    }

    /// The string, if this is one.
    #[inline]
    pub fn as_str(&self) -> Option<&'de str> {
        match self.0[0] {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    #[inline]
    pub fn as_obj(&self) -> Option<Obj<'t, 'de>> {
        matches!(self.0[0], Node::Object { .. }).then_some(Obj(self.0))
    }

    /// The array, if this is one.
    #[inline]
    pub fn as_arr(&self) -> Option<Arr<'t, 'de>> {
        matches!(self.0[0], Node::Array { .. }).then_some(Arr(self.0))
    }

    /// The boolean, if this is one.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match self.0[0] {
            Node::Static(StaticNode::Bool(b)) => Some(b),
            _ => None,
        }
    }

    /// True for JSON `null`.
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self.0[0], Node::Static(StaticNode::Null))
    }

    /// The number, if this is one.
    #[inline]
    pub fn as_static_number(&self) -> Option<StaticNode> {
        match self.0[0] {
            Node::Static(s @ (StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_))) => {
                Some(s)
            }
            _ => None,
        }
    }

    /// The JSON type in words, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.0[0] {
            Node::String(_) => "a string",
            Node::Object { .. } => "an object",
            Node::Array { .. } => "an array",
            Node::Static(StaticNode::Null) => "null",
            Node::Static(StaticNode::Bool(_)) => "a boolean",
            Node::Static(_) => "a number",
        }
    }

    /// The nodes of this value.
    #[inline]
    pub fn nodes(&self) -> &'t [Node<'de>] {
        self.0
    }
}

impl<'t, 'de> Obj<'t, 'de> {
    /// Number of keys.
    #[inline]
    pub fn len(&self) -> usize {
        match self.0[0] {
            Node::Object { len, .. } => len,
            _ => 0,
        }
    }

    /// True when the object has no keys.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key/value pairs in input order.
    #[inline]
    pub fn iter(&self) -> ObjIter<'t, 'de> {
        ObjIter(&self.0[1..])
    }

    /// The first value under `key`.
    pub fn get(&self, key: &str) -> Option<Val<'t, 'de>> {
        self.iter().find_map(|(k, v)| (k == key).then_some(v))
    }

    /// This object as a value.
    #[inline]
    pub fn as_val(&self) -> Val<'t, 'de> {
        Val(self.0)
    }
}

/// Iterator over an object's key/value pairs.
#[derive(Clone)]
pub struct ObjIter<'t, 'de>(&'t [Node<'de>]);

impl<'t, 'de> Iterator for ObjIter<'t, 'de> {
    type Item = (&'de str, Val<'t, 'de>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (k, rest) = self.0.split_first()?;
        let Node::String(k) = *k else { return None };
        let (v, tail) = Val::split(rest)?;
        self.0 = tail;
        Some((k, v))
    }
}

impl<'t, 'de> Arr<'t, 'de> {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match self.0[0] {
            Node::Array { len, .. } => len,
            _ => 0,
        }
    }

    /// True when the array has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements in order.
    #[inline]
    pub fn iter(&self) -> ArrIter<'t, 'de> {
        ArrIter(&self.0[1..])
    }
}

/// Iterator over an array's elements.
#[derive(Clone)]
pub struct ArrIter<'t, 'de>(&'t [Node<'de>]);

impl<'t, 'de> Iterator for ArrIter<'t, 'de> {
    type Item = Val<'t, 'de>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (v, tail) = Val::split(self.0)?;
        self.0 = tail;
        Some(v)
    }
}
