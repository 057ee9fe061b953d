//! A compact DOM built by html5ever's tree builder (the WHATWG tree-construction algorithm, so
//! broken markup is repaired the way browsers repair it) into one arena: nodes are indices into a
//! `Vec`, which is cheaper than reference-counted nodes and lets the whole tree be freed without
//! recursion. The tokens come from our own tokenizer ([`crate::tokenizer`]), which builds the
//! same tree as html5ever's tokenizer at about twice the speed.
//!
//! The budget is checked each time another 16 KiB of input has been tokenized, so a page with
//! 10^5 nested tags (whose tree construction costs O(depth) per tag) is stopped early with a
//! reason instead of stalling the worker. The budget counts nodes and depth, which makes the
//! outcome deterministic; the optional wall-clock limit is a last resort.

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};
use std::time::{Duration, Instant};

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tokenizer::TokenizerOpts;
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts};
use html5ever::{local_name, ns, parse_document, Attribute, LocalName, ParseOpts, QualName};

pub use crate::tokenizer::KeptAttributes;
use crate::tokenizer::{self, Tokenizer};

/// Index of a node in [`Dom::nodes`].
pub type NodeId = u32;
/// "No node" in the link fields.
pub const NONE: NodeId = u32::MAX;

#[derive(Debug)]
pub enum NodeData {
    Document,
    Element {
        attrs: Vec<Attribute>,
    },
    Text(StrTendril),
    /// Comments, processing instructions, doctypes, template contents: kept out of the text.
    Other,
}

#[derive(Debug)]
pub struct Node {
    pub parent: NodeId,
    pub first_child: NodeId,
    pub last_child: NodeId,
    pub prev_sibling: NodeId,
    pub next_sibling: NodeId,
    /// Element name; an empty local name for non-elements.
    pub name: QualName,
    pub depth: u32,
    pub data: NodeData,
}

impl Node {
    fn new(name: QualName, data: NodeData) -> Self {
        Node {
            parent: NONE,
            first_child: NONE,
            last_child: NONE,
            prev_sibling: NONE,
            next_sibling: NONE,
            name,
            depth: 0,
            data,
        }
    }

    pub fn is_element(&self) -> bool {
        matches!(self.data, NodeData::Element { .. })
    }

    /// The local (tag) name of an element.
    pub fn tag(&self) -> &LocalName {
        &self.name.local
    }

    /// The value of attribute `name` (e.g. `&local_name!("class")`: atoms compare as integers), if
    /// this is an element that has it.
    pub fn attr(&self, name: &LocalName) -> Option<&str> {
        match &self.data {
            NodeData::Element { attrs } => attrs
                .iter()
                .find(|a| a.name.local == *name && a.name.ns == ns!())
                .map(|a| &*a.value),
            _ => None,
        }
    }
}

/// Limits on the work one document may cost.
#[derive(Debug, Clone, Copy)]
pub struct ParseBudget {
    /// Most nodes (elements + text runs) the tree may hold.
    pub max_nodes: usize,
    /// Deepest element nesting allowed.
    pub max_depth: u32,
    /// Optional wall-clock limit (not deterministic; off by default).
    pub timeout: Option<Duration>,
}

/// Why a document was not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverBudget {
    Nodes(usize),
    Depth(u32),
    Time(Duration),
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverBudget::Nodes(n) => write!(f, "more than {n} nodes"),
            OverBudget::Depth(d) => write!(f, "nesting deeper than {d}"),
            OverBudget::Time(t) => write!(f, "parsing took longer than {} ms", t.as_millis()),
        }
    }
}

/// The parsed document.
#[derive(Debug)]
pub struct Dom {
    pub nodes: Vec<Node>,
}

/// Bytes fed to the parser between two budget checks. Small enough that the work done inside one
/// chunk stays bounded (about chunk tags × max depth), large enough not to cost anything.
const CHUNK: usize = 16 * 1024;

impl Dom {
    pub const DOCUMENT: NodeId = 0;

    /// Parses `html` within `budget`, every attribute kept.
    pub fn parse(html: &str, budget: &ParseBudget) -> Result<Dom, OverBudget> {
        Self::parse_keeping(html, budget, KeptAttributes::All)
    }

    /// Parses `html` within `budget`, keeping the attributes `kept` names (the tree is the same
    /// whatever it is).
    pub fn parse_keeping(
        html: &str,
        budget: &ParseBudget,
        kept: KeptAttributes,
    ) -> Result<Dom, OverBudget> {
        // Real pages have about one node per 100 bytes: reserving for that saves the copies of
        // a growing arena (never more than the budget allows).
        let expected_nodes = (html.len() / 128).min(budget.max_nodes);
        let builder = TreeBuilder::new(Sink::new(expected_nodes), TreeBuilderOpts::default());
        let input = tokenizer::prepare_input(html);
        let start = Instant::now();
        Tokenizer::new(&builder, &input, kept).run(CHUNK, |b| b.sink.check(budget, start))?;
        builder.sink.into_dom(budget)
    }

    /// Parses `html` with html5ever's own tokenizer (the reference the tests and the fuzz target
    /// compare [`Dom::parse`] with).
    #[doc(hidden)]
    pub fn parse_with_html5ever_tokenizer(
        html: &str,
        budget: &ParseBudget,
    ) -> Result<Dom, OverBudget> {
        // html5ever 0.40 drops a U+FEFF at the start of every chunk it is fed, not only at the
        // start of the document: the BOM is stripped here instead.
        let opts = ParseOpts {
            tokenizer: TokenizerOpts {
                discard_bom: false,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut parser = parse_document(Sink::new(0), opts);
        let start = Instant::now();
        let mut rest = html.strip_prefix('\u{feff}').unwrap_or(html);
        while !rest.is_empty() {
            let mut cut = rest.len().min(CHUNK);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            rest = tail;
            parser.process(StrTendril::from_slice(chunk));
            parser.tokenizer.sink.sink.check(budget, start)?;
        }
        parser.finish().into_dom(budget)
    }

    /// Drops the attributes `kept` does not keep, as [`Dom::parse_keeping`] would not have made
    /// them. For comparing a full parse with a filtered one.
    #[doc(hidden)]
    pub fn retain_attributes(&mut self, kept: KeptAttributes) {
        for node in &mut self.nodes {
            if let NodeData::Element { attrs } = &mut node.data {
                // The decision is on the name as written: `xml:lang` on an SVG element is
                // `lang` in the XML namespace once the tree builder has adjusted it.
                attrs.retain(|a| {
                    let written = match &a.name.prefix {
                        Some(prefix) => format!("{}:{}", &**prefix, &*a.name.local),
                        None => a.name.local.to_string(),
                    };
                    kept.keeps(&node.name.local, written.as_bytes())
                });
            }
        }
    }

    /// The document tree as text, one line per node indented by depth: elements with their
    /// namespace and attributes, text, `#other` for comments and the like. For comparing trees.
    #[doc(hidden)]
    pub fn outline(&self) -> String {
        let mut out = String::new();
        for id in self.descendants(Dom::DOCUMENT) {
            let node = self.node(id);
            let mut depth = 0;
            let mut up = node.parent;
            while up != NONE {
                depth += 1;
                up = self.node(up).parent;
            }
            out.extend(std::iter::repeat_n(' ', depth));
            match &node.data {
                NodeData::Element { attrs } => {
                    out.push_str(&format!("<{} {}", &*node.name.ns, &*node.name.local));
                    for a in attrs {
                        let prefix = a.name.prefix.as_deref().unwrap_or("");
                        out.push_str(&format!(
                            " {prefix}:{}:{}={:?}",
                            &*a.name.ns, &*a.name.local, &*a.value
                        ));
                    }
                    out.push_str(">\n");
                }
                NodeData::Text(t) => out.push_str(&format!("{:?}\n", &**t)),
                NodeData::Other => out.push_str("#other\n"),
                NodeData::Document => out.push_str("#document\n"),
            }
        }
        out
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The children of `id`, in document order.
    pub fn children(&self, id: NodeId) -> Children<'_> {
        Children {
            dom: self,
            next: self.node(id).first_child,
        }
    }

    /// The first element named `tag` in document order (pre-order walk without recursion).
    pub fn find_first(&self, from: NodeId, tag: &LocalName) -> Option<NodeId> {
        self.descendants(from)
            .find(|&id| self.node(id).is_element() && self.node(id).tag() == tag)
    }

    /// Every node below `from` (not `from` itself), in document order.
    pub fn descendants(&self, from: NodeId) -> Descendants<'_> {
        Descendants {
            dom: self,
            root: from,
            next: self.node(from).first_child,
        }
    }
}

pub struct Children<'a> {
    dom: &'a Dom,
    next: NodeId,
}

impl Iterator for Children<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next == NONE {
            return None;
        }
        let id = self.next;
        self.next = self.dom.node(id).next_sibling;
        Some(id)
    }
}

pub struct Descendants<'a> {
    dom: &'a Dom,
    root: NodeId,
    next: NodeId,
}

impl Iterator for Descendants<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next == NONE {
            return None;
        }
        let id = self.next;
        let node = self.dom.node(id);
        self.next = if node.first_child != NONE {
            node.first_child
        } else {
            let mut cur = id;
            loop {
                if cur == self.root {
                    break NONE;
                }
                let n = self.dom.node(cur);
                if n.next_sibling != NONE {
                    break n.next_sibling;
                }
                cur = n.parent;
                if cur == NONE || cur == self.root {
                    break NONE;
                }
            }
        };
        Some(id)
    }
}

fn empty_name() -> QualName {
    QualName::new(None, ns!(), local_name!(""))
}

struct Sink {
    nodes: RefCell<Vec<Node>>,
    max_depth: Cell<u32>,
}

impl Sink {
    fn new(capacity: usize) -> Self {
        let mut nodes = Vec::with_capacity(capacity.max(1));
        nodes.push(Node::new(empty_name(), NodeData::Document));
        Sink {
            nodes: RefCell::new(nodes),
            max_depth: Cell::new(0),
        }
    }

    /// Stops the parse when the tree went over `budget`.
    fn check(&self, budget: &ParseBudget, start: Instant) -> Result<(), OverBudget> {
        if self.nodes.borrow().len() > budget.max_nodes {
            return Err(OverBudget::Nodes(budget.max_nodes));
        }
        if self.max_depth.get() > budget.max_depth {
            return Err(OverBudget::Depth(budget.max_depth));
        }
        match budget.timeout {
            Some(limit) if start.elapsed() > limit => Err(OverBudget::Time(limit)),
            _ => Ok(()),
        }
    }

    fn into_dom(self, budget: &ParseBudget) -> Result<Dom, OverBudget> {
        let nodes = self.nodes.into_inner();
        if nodes.len() > budget.max_nodes {
            return Err(OverBudget::Nodes(budget.max_nodes));
        }
        Ok(Dom { nodes })
    }

    fn push(&self, node: Node) -> NodeId {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(node);
        (nodes.len() - 1) as NodeId
    }

    fn detach(nodes: &mut [Node], id: NodeId) {
        let (parent, prev, next) = {
            let n = &nodes[id as usize];
            (n.parent, n.prev_sibling, n.next_sibling)
        };
        if parent == NONE {
            return;
        }
        if prev != NONE {
            nodes[prev as usize].next_sibling = next;
        } else {
            nodes[parent as usize].first_child = next;
        }
        if next != NONE {
            nodes[next as usize].prev_sibling = prev;
        } else {
            nodes[parent as usize].last_child = prev;
        }
        let n = &mut nodes[id as usize];
        n.parent = NONE;
        n.prev_sibling = NONE;
        n.next_sibling = NONE;
    }

    /// Links detached node `id` under `parent`, before `before` (or last when `NONE`).
    fn link(&self, nodes: &mut [Node], parent: NodeId, id: NodeId, before: NodeId) {
        let depth = nodes[parent as usize].depth + 1;
        if depth > self.max_depth.get() {
            self.max_depth.set(depth);
        }
        let prev = if before == NONE {
            nodes[parent as usize].last_child
        } else {
            nodes[before as usize].prev_sibling
        };
        {
            let n = &mut nodes[id as usize];
            n.parent = parent;
            n.prev_sibling = prev;
            n.next_sibling = before;
            n.depth = depth;
        }
        if prev != NONE {
            nodes[prev as usize].next_sibling = id;
        } else {
            nodes[parent as usize].first_child = id;
        }
        if before != NONE {
            nodes[before as usize].prev_sibling = id;
        } else {
            nodes[parent as usize].last_child = id;
        }
    }

    /// Inserts `child` under `parent` before `before` (`NONE`: at the end); text next to text is
    /// merged, as the DOM does.
    fn insert(&self, parent: NodeId, before: NodeId, child: NodeOrText<NodeId>) {
        let mut nodes = self.nodes.borrow_mut();
        let id = match child {
            NodeOrText::AppendNode(id) => {
                Self::detach(&mut nodes, id);
                id
            }
            NodeOrText::AppendText(text) => {
                let neighbour = if before == NONE {
                    nodes[parent as usize].last_child
                } else {
                    nodes[before as usize].prev_sibling
                };
                if neighbour != NONE {
                    if let NodeData::Text(t) = &mut nodes[neighbour as usize].data {
                        t.push_tendril(&text);
                        return;
                    }
                }
                nodes.push(Node::new(empty_name(), NodeData::Text(text)));
                (nodes.len() - 1) as NodeId
            }
        };
        self.link(&mut nodes, parent, id, before);
    }
}

impl TreeSink for Sink {
    type Handle = NodeId;
    type Output = Self;
    type ElemName<'a> = Ref<'a, QualName>;

    fn finish(self) -> Self {
        self
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> NodeId {
        Dom::DOCUMENT
    }

    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Ref<'a, QualName> {
        Ref::map(self.nodes.borrow(), |nodes| &nodes[*target as usize].name)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, _: ElementFlags) -> NodeId {
        self.push(Node::new(name, NodeData::Element { attrs }))
    }

    fn create_comment(&self, _text: StrTendril) -> NodeId {
        self.push(Node::new(empty_name(), NodeData::Other))
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> NodeId {
        self.push(Node::new(empty_name(), NodeData::Other))
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        self.insert(*parent, NONE, child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        let has_parent = self.nodes.borrow()[*element as usize].parent != NONE;
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _: StrTendril, _: StrTendril, _: StrTendril) {}

    fn get_template_contents(&self, _target: &NodeId) -> NodeId {
        // Template contents are inert: they go to a detached node that the text never reaches.
        self.push(Node::new(empty_name(), NodeData::Other))
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &NodeId, child: NodeOrText<NodeId>) {
        let parent = self.nodes.borrow()[*sibling as usize].parent;
        if parent != NONE {
            self.insert(parent, *sibling, child);
        }
    }

    fn add_attrs_if_missing(&self, target: &NodeId, new: Vec<Attribute>) {
        let mut nodes = self.nodes.borrow_mut();
        if let NodeData::Element { attrs } = &mut nodes[*target as usize].data {
            for a in new {
                if !attrs.iter().any(|x| x.name == a.name) {
                    attrs.push(a);
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &NodeId) {
        Self::detach(&mut self.nodes.borrow_mut(), *target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        let mut nodes = self.nodes.borrow_mut();
        let mut child = nodes[*node as usize].first_child;
        while child != NONE {
            let next = nodes[child as usize].next_sibling;
            Self::detach(&mut nodes, child);
            self.link(&mut nodes, *new_parent, child, NONE);
            child = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> ParseBudget {
        ParseBudget {
            max_nodes: 100_000,
            max_depth: 500,
            timeout: None,
        }
    }

    fn text_of(dom: &Dom) -> String {
        dom.descendants(Dom::DOCUMENT)
            .filter_map(|id| match &dom.node(id).data {
                NodeData::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn repairs_markup_like_a_browser() {
        let dom = Dom::parse("<p>one<p>two<table><td>cell</table>tail", &budget()).expect("dom");
        let body = dom
            .find_first(Dom::DOCUMENT, &local_name!("body"))
            .expect("body");
        let tags: Vec<String> = dom
            .children(body)
            .map(|c| dom.node(c).tag().to_string())
            .collect();
        assert_eq!(tags, ["p", "p"]);
        assert_eq!(text_of(&dom), "onetwocelltail");
    }

    #[test]
    fn deep_nesting_is_stopped_by_the_depth_budget() {
        let html = "<div>".repeat(100_000);
        let start = Instant::now();
        let err = Dom::parse(&html, &budget()).expect_err("too deep");
        assert_eq!(err, OverBudget::Depth(500));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_short_page_is_held_to_the_depth_budget_too() {
        // Shorter than one budget step (16 KiB): checked once the input is consumed.
        let html = "<div>".repeat(600);
        assert!(html.len() < CHUNK);
        assert_eq!(
            Dom::parse(&html, &budget()).expect_err("too deep"),
            OverBudget::Depth(500)
        );
        assert_eq!(
            Dom::parse_with_html5ever_tokenizer(&html, &budget()).expect_err("too deep"),
            OverBudget::Depth(500)
        );
    }

    #[test]
    fn node_budget() {
        let html = "<span>x</span>".repeat(10_000);
        let b = ParseBudget {
            max_nodes: 1000,
            ..budget()
        };
        assert_eq!(
            Dom::parse(&html, &b).expect_err("nodes"),
            OverBudget::Nodes(1000)
        );
    }
}
