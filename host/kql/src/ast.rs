//! The parsed form of a query. Every node keeps the offset it starts at, so
//! that errors found while translating can point at it.

/// `let ...; let ...; Source | op | op ...`
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub lets: Vec<Let>,
    pub body: Pipeline,
}

/// `let name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Name,
    pub value: LetValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    /// A scalar, or a bare name or call that may turn out to be a table
    /// (`let T = ConfigurationData;`): the translation knows which.
    Expr(Expr),
    Tabular(Pipeline),
    Function(Function),
}

/// `(x: string, n: long = 5) { let ...; body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub params: Vec<FunctionParam>,
    pub lets: Vec<Let>,
    pub body: Box<LetValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionParam {
    pub name: Name,
    /// The declared type's name, checked against the argument's.
    pub ty: Name,
    pub default: Option<Expr>,
}

/// `Source | op | op ...`
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub source: Source,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table or a tabular `let`.
    Name(Name),
    /// A tabular function: `f(1, "x")`.
    Call(Name, Vec<Expr>),
    Union(Union),
    /// `search ...` at the start of a query.
    Search(Search),
    /// `( pipeline )`.
    Nested(Box<Pipeline>),
}

/// `union [kind=inner|outer] [withsource=Name] T1, T2, ...`
#[derive(Debug, Clone, PartialEq)]
pub struct Union {
    pub inner: bool,
    pub with_source: Option<Name>,
    pub tables: Vec<Pipeline>,
    pub at: usize,
}

/// `search [in (T1, T2)] predicate`: a `where` over every string column
/// where terms stand alone (`"error"`) and `Column:"value"` names one.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub tables: Vec<Name>,
    pub predicate: Expr,
    /// `kind=case_sensitive`: terms match as `has_cs` does.
    pub case_sensitive: bool,
    pub at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftAnti,
    RightAnti,
    LeftSemi,
    RightSemi,
}

impl JoinKind {
    pub const NAMES: &str = "innerunique, inner, leftouter, rightouter, fullouter, leftanti (anti, leftantisemi), \
         rightanti (rightantisemi), leftsemi, rightsemi";

    pub fn parse(word: &str) -> Option<JoinKind> {
        Some(match word {
            "innerunique" => JoinKind::InnerUnique,
            "inner" => JoinKind::Inner,
            "leftouter" => JoinKind::LeftOuter,
            "rightouter" => JoinKind::RightOuter,
            "fullouter" | "outer" => JoinKind::FullOuter,
            "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
            "rightanti" | "rightantisemi" => JoinKind::RightAnti,
            "leftsemi" | "semi" => JoinKind::LeftSemi,
            "rightsemi" => JoinKind::RightSemi,
            _ => return None,
        })
    }
}

/// One equality of `on`: `X` (the same name on both sides) or
/// `$left.X == $right.Y`.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinKey {
    pub left: Name,
    pub right: Name,
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
    Join {
        kind: JoinKind,
        right: Box<Pipeline>,
        on: Vec<JoinKey>,
        at: usize,
    },
    /// `lookup`: a join that keeps the left side's rows and does not
    /// repeat the keys.
    Lookup {
        inner: bool,
        right: Box<Pipeline>,
        on: Vec<JoinKey>,
        at: usize,
    },
    Union(Union),
    /// `T | search ...`.
    Search(Search),
    /// `parse Column with * "text" Name:type "text" ...`: columns taken
    /// from the text between the constants.
    Parse {
        column: Expr,
        pieces: Vec<ParsePiece>,
    },
    /// `evaluate narrow()`: a row per cell (`Row`, `Column`, `Value`).
    Narrow,
    /// `mv-expand Column [to typeof(type)]`: a row per element.
    MvExpand {
        column: Name,
        to: Option<Name>,
    },
    /// `render chart`: drawn by the console, noted and ignored elsewhere.
    Render(Name),
    /// `distinct *` has no columns.
    Distinct(Vec<Name>),
    Count,
}

/// One piece of a `parse` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsePiece {
    /// `*`: any text, skipped.
    Any,
    Text(String),
    /// A new column, with its type's name (`string` if none).
    Column(Name, Option<Name>),
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
    /// `value[index]`, `value["key"]`, `value.key`.
    Index(Box<Expr>, Box<Expr>),
    /// `subject between (low .. high)`, both ends included.
    Between {
        subject: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `subject matches regex pattern`.
    Matches {
        subject: Box<Expr>,
        pattern: Box<Expr>,
    },
    /// `subject has_any (a, b)` or `has_any (dynamic)`.
    HasAny {
        subject: Box<Expr>,
        list: Vec<Expr>,
    },
    /// A bare string in `search`: some string column has this term.
    SearchTerm(String),
    /// `toscalar(pipeline)`: the first column of the first row.
    ToScalar(Box<Pipeline>),
    /// `in (T | ...)`: a tabular expression whose first column's values
    /// are the list.
    Tabular(Box<Pipeline>),
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
    /// `dynamic([...])`, `dynamic({...})`, `dynamic(null)`.
    Dynamic(serde_json::Value),
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
