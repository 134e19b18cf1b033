//! The parsed form of a query. Every node keeps the offset it starts at, so
//! that errors found while translating can point at it.

/// `Table | op | op ...`
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub table: Name,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub name: String,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Where(Expr),
    Project(Vec<Assignment>),
    ProjectAway(Vec<Pattern>),
    ProjectRename(Vec<(Name, Name)>),
    Extend(Vec<Assignment>),
    Summarize {
        aggregates: Vec<Aggregate>,
        by: Vec<Assignment>,
    },
    Sort(Vec<SortKey>),
    Top {
        count: i64,
        key: SortKey,
    },
    Take(i64),
    /// `distinct *` has no columns.
    Distinct(Vec<Name>),
    Count,
}

/// `Name = expr`, or a bare `expr` (named after its column, or `Column1`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub name: Option<Name>,
    pub expr: Expr,
}

/// A column name with `*` wildcards (`Svc*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub pattern: String,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub name: Option<Name>,
    pub function: Name,
    pub args: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    /// `nulls first` / `nulls last`; `None`: KQL's default for the direction.
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Column(String),
    Literal(Literal),
    /// `*` as an argument: `arg_max(TimeGenerated, *)`.
    Star,
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `contains`, `has`, `startswith`, ... and their `!` and `_cs` forms.
    Text {
        op: TextOp,
        negated: bool,
        case_sensitive: bool,
        subject: Box<Expr>,
        pattern: Box<Expr>,
    },
    In {
        subject: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_sensitive: bool,
    },
    Call(Name, Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Long(i64),
    Real(f64),
    Bool(bool),
    /// The raw text of `datetime(...)`.
    Datetime(String),
    /// Microseconds.
    Timespan(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    /// `=~`
    EqCi,
    /// `!~`
    NotEqCi,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::EqCi => "=~",
            BinaryOp::NotEqCi => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    Has,
    StartsWith,
    EndsWith,
}

impl TextOp {
    /// The operator named `word` (`contains`, `has_cs`, ...), and whether it
    /// is the case-sensitive form.
    pub fn parse(word: &str) -> Option<(TextOp, bool)> {
        let (base, case_sensitive) = match word.strip_suffix("_cs") {
            Some(base) => (base, true),
            None => (word, false),
        };
        let op = match base {
            "contains" => TextOp::Contains,
            "has" => TextOp::Has,
            "startswith" => TextOp::StartsWith,
            "endswith" => TextOp::EndsWith,
            _ => return None,
        };
        Some((op, case_sensitive))
    }

    /// The code the SQL function `kql_text` takes.
    pub fn code(self) -> i64 {
        match self {
            TextOp::Contains => 1,
            TextOp::Has => 2,
            TextOp::StartsWith => 3,
            TextOp::EndsWith => 4,
        }
    }
}
