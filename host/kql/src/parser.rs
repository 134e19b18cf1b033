//! Tokens → [`Query`], by recursive descent. Precedence, loosest first:
//! `or`, `and`, comparisons and string operators, `+ -`, `* / %`, unary `-`.

use super::QueryError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};

pub const SUPPORTED_OPERATORS: &str = "where, project, project-away, project-rename, extend, \
     summarize, order by, sort by, top, take, limit, distinct, count, join, lookup, union, search, mv-expand, parse, evaluate narrow(), render";

/// How deep expressions may nest (parentheses, calls, unary minus), and
/// how many binary operators a query may have: bounds that keep parsing and
/// translating within a thread's stack, whoever wrote the query.
const MAX_NESTING: usize = 40;
const MAX_OPERATORS: usize = 300;

pub fn parse(text: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        tokens,
        next: 0,
        nesting: 0,
        operators: 0,
        searching: false,
    };
    let query = parser.query()?;
    Ok(query)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    next: usize,
    nesting: usize,
    operators: usize,
    /// Inside `search`'s predicate, where `Column:"value"` and bare
    /// strings are terms.
    searching: bool,
}

impl Parser<'_> {
    /// One more level of nesting, refused past [`MAX_NESTING`].
    fn nest(&mut self) -> Result<(), QueryError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(self.at(), format!("expressions nest at most {MAX_NESTING} deep")));
        }
        Ok(())
    }

    /// A binary operator of `op` on `left` and `right`, counted against
    /// [`MAX_OPERATORS`].
    fn binary(&mut self, op: BinaryOp, left: Expr, right: Expr) -> Result<Expr, QueryError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.error(left.at, format!("a query has at most {MAX_OPERATORS} operators")));
        }
        Ok(binary(op, left, right))
    }

    fn peek(&self) -> &Tok {
        &self.tokens[self.next].tok
    }

    fn at(&self) -> usize {
        self.tokens[self.next].at
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if token.tok != Tok::End {
            self.next += 1;
        }
        token
    }

    fn error(&self, at: usize, message: impl Into<String>) -> QueryError {
        QueryError::at(self.text, at, message)
    }

    /// An error at the next token, saying what was expected there.
    fn expected(&self, what: &str) -> QueryError {
        let found = match self.peek() {
            Tok::End => "the end of the query".to_string(),
            _ => format!("'{}'", self.token_text()),
        };
        self.error(self.at(), format!("expected {what}, found {found}"))
    }

    /// The source text of the next token, for messages.
    fn token_text(&self) -> &str {
        let start = self.at();
        let end = self.tokens.get(self.next + 1).map_or(self.text.len(), |t| t.at);
        self.text[start..end].trim_end()
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let found = self.is_punct(p);
        if found {
            self.advance();
        }
        found
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), QueryError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{p}'")))
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.is_word(word);
        if found {
            self.advance();
        }
        found
    }

    fn expect_word(&mut self, word: &str) -> Result<(), QueryError> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{word}'")))
        }
    }

    fn name(&mut self, what: &str) -> Result<Name, QueryError> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let at = self.advance().at;
                Ok(Name { name, at })
            }
            _ => Err(self.expected(what)),
        }
    }

    fn count_literal(&mut self) -> Result<i64, QueryError> {
        match *self.peek() {
            Tok::Long(n) if n >= 0 => {
                self.advance();
                Ok(n)
            }
            _ => Err(self.expected("a row count")),
        }
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let lets = self.lets()?;
        let body = self.pipeline()?;
        while self.eat_punct(";") {}
        if *self.peek() != Tok::End {
            return Err(self.expected("'|' or the end of the query"));
        }
        Ok(Query { lets, body })
    }

    /// `let` statements, each ended by `;`.
    fn lets(&mut self) -> Result<Vec<Let>, QueryError> {
        let mut lets = Vec::new();
        while self.eat_word("let") {
            let name = self.name("a name for the let statement")?;
            self.expect_punct("=")?;
            let value = self.let_value()?;
            if !self.eat_punct(";") {
                return Err(self.expected("';' after the let statement"));
            }
            lets.push(Let { name, value });
        }
        Ok(lets)
    }

    /// What a `let` binds: a function, an expression or a pipeline. An
    /// expression is tried first; where it does not end the statement,
    /// the text is read again as a pipeline, and of two failures the one
    /// that read further is reported.
    fn let_value(&mut self) -> Result<LetValue, QueryError> {
        if self.is_function_start() {
            return Ok(LetValue::Function(self.function()?));
        }
        let (start, nesting, operators) = (self.next, self.nesting, self.operators);
        let as_expr = self.expr();
        let ends = |p: &Self| matches!(p.peek(), Tok::End | Tok::Punct(";" | "}"));
        let expr_error = match as_expr {
            Ok(expr) if ends(self) => return Ok(LetValue::Expr(expr)),
            Ok(_) => self.expected("';' after the let statement"),
            Err(error) => error,
        };
        let expr_reach = self.next;
        (self.next, self.nesting, self.operators) = (start, nesting, operators);
        match self.pipeline() {
            Ok(pipeline) => Ok(LetValue::Tabular(pipeline)),
            Err(error) if self.next >= expr_reach => Err(error),
            Err(_) => Err(expr_error),
        }
    }

    /// `(` followed by `)` or by `name:`.
    fn is_function_start(&self) -> bool {
        let tok = |n: usize| self.tokens.get(self.next + n).map(|t| &t.tok);
        self.is_punct("(")
            && (matches!(tok(1), Some(Tok::Punct(")")))
                || matches!((tok(1), tok(2)), (Some(Tok::Ident(_)), Some(Tok::Punct(":")))))
    }

    /// `(x: string, n: long = 5) { let ...; body }`
    fn function(&mut self) -> Result<Function, QueryError> {
        self.expect_punct("(")?;
        let mut params = Vec::new();
        if !self.eat_punct(")") {
            loop {
                let name = self.name("a parameter name")?;
                self.expect_punct(":")?;
                let ty = if self.is_punct("(") {
                    return Err(self.error(self.at(), "tabular parameters are not supported; pass scalars"));
                } else {
                    self.name("a parameter type (string, long, real, bool, datetime, timespan)")?
                };
                let default = if self.eat_punct("=") { Some(self.expr()?) } else { None };
                params.push(FunctionParam { name, ty, default });
                if self.eat_punct(")") {
                    break;
                }
                self.expect_punct(",")?;
            }
        }
        self.expect_punct("{")?;
        self.nest()?;
        let lets = self.lets()?;
        let body = self.let_value()?;
        while self.eat_punct(";") {}
        self.nesting -= 1;
        self.expect_punct("}")?;
        Ok(Function {
            params,
            lets,
            body: Box::new(body),
        })
    }

    fn pipeline(&mut self) -> Result<Pipeline, QueryError> {
        let source = self.source()?;
        let mut ops = Vec::new();
        while self.eat_punct("|") {
            let op = self.operator()?;
            let render = matches!(op, Op::Render(_));
            ops.push(op);
            if render && self.is_punct("|") {
                return Err(self.error(self.at(), "'render' must be the last operator"));
            }
        }
        Ok(Pipeline { source, ops })
    }

    /// What a pipeline starts from: a table or `let` name, a tabular
    /// function's call, `union`, `search`, or a pipeline in parentheses.
    fn source(&mut self) -> Result<Source, QueryError> {
        if self.eat_punct("(") {
            return Ok(Source::Nested(Box::new(self.nested_pipeline(")")?)));
        }
        let name = self.name("a table name (ConfigurationChange, ConfigurationData, Heartbeat)")?;
        Ok(match name.name.as_str() {
            "union" => {
                self.nest()?;
                let union = self.union(name.at);
                self.nesting -= 1;
                Source::Union(union?)
            }
            "search" => Source::Search(self.search(name.at)?),
            "let" => return Err(self.error(name.at, "expected ';' before this 'let'")),
            "materialize" if self.eat_punct("(") => Source::Nested(Box::new(self.nested_pipeline(")")?)),
            _ if self.eat_punct("(") => Source::Call(name, self.arguments()?),
            _ => Source::Name(name),
        })
    }

    /// A pipeline inside brackets, up to and including `close`.
    fn nested_pipeline(&mut self, close: &str) -> Result<Pipeline, QueryError> {
        self.nest()?;
        let pipeline = self.pipeline();
        self.nesting -= 1;
        let pipeline = pipeline?;
        self.expect_punct(close)?;
        Ok(pipeline)
    }

    /// `name=value` options (`kind=inner`, `hint.strategy=broadcast`), as
    /// long as they come.
    fn options(&mut self) -> Result<Vec<(Name, Name)>, QueryError> {
        let mut options = Vec::new();
        loop {
            let tok = |n: usize| self.tokens.get(self.next + n).map(|t| &t.tok);
            let is_option = matches!(tok(0), Some(Tok::Ident(_))) && matches!(tok(1), Some(Tok::Punct("=" | ".")));
            if !is_option {
                return Ok(options);
            }
            let mut key = self.name("an option")?;
            while self.eat_punct(".") {
                key.name.push('.');
                key.name.push_str(&self.name("an option")?.name);
            }
            self.expect_punct("=")?;
            let value = match self.peek().clone() {
                Tok::Ident(name) | Tok::Str(name) => Name {
                    name,
                    at: self.advance().at,
                },
                Tok::Long(n) => Name {
                    name: n.to_string(),
                    at: self.advance().at,
                },
                _ => return Err(self.expected("the option's value")),
            };
            options.push((key, value));
        }
    }

    /// After `union`: options, then the tables.
    fn union(&mut self, at: usize) -> Result<Union, QueryError> {
        let mut inner = false;
        let mut with_source = None;
        for (key, value) in self.options()? {
            match (key.name.as_str(), value.name.as_str()) {
                ("kind", "inner") => inner = true,
                ("kind", "outer") => inner = false,
                ("withsource", _) => with_source = Some(value),
                ("isfuzzy", _) => {}
                (name, _) => {
                    return Err(self.error(
                        key.at,
                        format!("unsupported union option '{name}'; supported: kind=inner|outer, withsource=Name"),
                    ));
                }
            }
        }
        let mut tables = Vec::new();
        loop {
            let source = self.source()?;
            tables.push(Pipeline {
                source,
                ops: Vec::new(),
            });
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(Union {
            inner,
            with_source,
            tables,
            at,
        })
    }

    /// After `search`: `in (T1, ...)` and the predicate.
    fn search(&mut self, at: usize) -> Result<Search, QueryError> {
        let mut case_sensitive = false;
        for (key, value) in self.options()? {
            match (key.name.as_str(), value.name.as_str()) {
                ("kind", "case_sensitive") => case_sensitive = true,
                ("kind", "case_insensitive") => case_sensitive = false,
                _ => {
                    return Err(self.error(
                        key.at,
                        format!("unsupported search option '{}={}'", key.name, value.name),
                    ));
                }
            }
        }
        let mut tables = Vec::new();
        if self.eat_word("in") {
            self.expect_punct("(")?;
            tables = self.list(|p| p.name("a table name"))?;
            self.expect_punct(")")?;
        }
        self.searching = true;
        let predicate = self.expr();
        self.searching = false;
        Ok(Search {
            tables,
            predicate: predicate?,
            case_sensitive,
            at,
        })
    }

    /// `join` and `lookup`: options, the right side, `on` and its keys.
    fn join(&mut self, op: &Name) -> Result<Op, QueryError> {
        let lookup = op.name == "lookup";
        let mut kind = if lookup {
            JoinKind::LeftOuter
        } else {
            JoinKind::InnerUnique
        };
        for (key, value) in self.options()? {
            match key.name.as_str() {
                "kind" => {
                    kind = JoinKind::parse(&value.name)
                        .filter(|k| !lookup || matches!(k, JoinKind::Inner | JoinKind::LeftOuter))
                        .ok_or_else(|| {
                            let kinds = if lookup { "leftouter, inner" } else { JoinKind::NAMES };
                            self.error(
                                value.at,
                                format!("unknown {} kind '{}'; kinds: {kinds}", op.name, value.name),
                            )
                        })?;
                }
                name if name.starts_with("hint.") => {}
                name => return Err(self.error(key.at, format!("unsupported {} option '{name}'", op.name))),
            }
        }
        let right = if self.eat_punct("(") {
            self.nested_pipeline(")")?
        } else {
            let source = self.source()?;
            Pipeline {
                source,
                ops: Vec::new(),
            }
        };
        self.expect_word("on")?;
        let mut on = Vec::new();
        loop {
            on.push(self.join_key()?);
            if !(self.eat_punct(",") || self.eat_word("and")) {
                break;
            }
        }
        let right = Box::new(right);
        Ok(if lookup {
            Op::Lookup {
                inner: kind == JoinKind::Inner,
                right,
                on,
                at: op.at,
            }
        } else {
            Op::Join {
                kind,
                right,
                on,
                at: op.at,
            }
        })
    }

    /// `X`, or `$left.X == $right.Y` (either way round).
    fn join_key(&mut self) -> Result<JoinKey, QueryError> {
        if !self.is_punct("$") {
            let name = self.name("a column to join on, or $left.X == $right.Y")?;
            return Ok(JoinKey {
                left: name.clone(),
                right: name,
            });
        }
        let side = |p: &mut Self| -> Result<(bool, Name), QueryError> {
            p.expect_punct("$")?;
            let which = p.name("left or right")?;
            let left = match which.name.as_str() {
                "left" => true,
                "right" => false,
                _ => return Err(p.error(which.at, "expected $left or $right")),
            };
            p.expect_punct(".")?;
            Ok((left, p.name("a column name")?))
        };
        let (first_left, first) = side(self)?;
        self.expect_punct("==")?;
        let (second_left, second) = side(self)?;
        if first_left == second_left {
            return Err(self.error(second.at, "a join key compares $left with $right"));
        }
        Ok(if first_left {
            JoinKey {
                left: first,
                right: second,
            }
        } else {
            JoinKey {
                left: second,
                right: first,
            }
        })
    }

    /// After `parse`: `[kind=simple] Column with pieces`.
    fn parse_operator(&mut self) -> Result<Op, QueryError> {
        for (key, value) in self.options()? {
            if key.name != "kind" || value.name != "simple" {
                return Err(self.error(
                    key.at,
                    "parse takes kind=simple only (regex and relaxed are not supported)",
                ));
            }
        }
        let column = self.additive()?;
        self.expect_word("with")?;
        let mut pieces = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Str(text) => {
                    self.advance();
                    pieces.push(ParsePiece::Text(text));
                }
                Tok::Punct("*") => {
                    self.advance();
                    pieces.push(ParsePiece::Any);
                }
                Tok::Ident(_) => {
                    let name = self.name("a column name")?;
                    let ty = if self.eat_punct(":") {
                        Some(self.name("a type")?)
                    } else {
                        None
                    };
                    pieces.push(ParsePiece::Column(name, ty));
                }
                _ => break,
            }
        }
        if !pieces.iter().any(|p| matches!(p, ParsePiece::Column(..))) {
            return Err(self.expected("a column to parse into"));
        }
        Ok(Op::Parse { column, pieces })
    }

    /// `render chart [with (...)]`: the options are read past.
    fn render(&mut self) -> Result<Op, QueryError> {
        let chart = self.name("a chart type (table, timechart, barchart, columnchart, piechart, ...)")?;
        if self.eat_word("with") {
            self.expect_punct("(")?;
            let mut depth = 1;
            while depth > 0 {
                match self.advance().tok {
                    Tok::Punct("(") => depth += 1,
                    Tok::Punct(")") => depth -= 1,
                    Tok::End => return Err(self.expected("')'")),
                    _ => {}
                }
            }
        }
        Ok(Op::Render(chart))
    }

    fn operator(&mut self) -> Result<Op, QueryError> {
        let op = self.name(&format!("a tabular operator ({SUPPORTED_OPERATORS})"))?;
        Ok(match op.name.as_str() {
            "where" | "filter" => Op::Where(self.expr()?),
            "project" => Op::Project(self.list(Self::assignment)?),
            "extend" => Op::Extend(self.list(Self::assignment)?),
            "project-away" => Op::ProjectAway(self.list(Self::pattern)?),
            "project-rename" => Op::ProjectRename(self.list(|p| {
                let new = p.name("a new column name")?;
                p.expect_punct("=")?;
                Ok((new, p.name("a column name")?))
            })?),
            "summarize" => self.summarize()?,
            "order" | "sort" => {
                self.expect_word("by")?;
                Op::Sort(self.list(Self::sort_key)?)
            }
            "top" => {
                let count = self.count_literal()?;
                self.expect_word("by")?;
                Op::Top {
                    count,
                    key: self.sort_key()?,
                }
            }
            "take" | "limit" => Op::Take(self.count_literal()?),
            "distinct" => {
                if self.eat_punct("*") {
                    Op::Distinct(Vec::new())
                } else {
                    Op::Distinct(self.list(|p| p.name("a column name"))?)
                }
            }
            "count" => Op::Count,
            "join" | "lookup" => self.join(&op)?,
            "union" => Op::Union(self.union(op.at)?),
            "search" => Op::Search(self.search(op.at)?),
            "render" => self.render()?,
            "parse" => self.parse_operator()?,
            "evaluate" => {
                let plugin = self.name("a plugin (narrow)")?;
                if plugin.name != "narrow" {
                    return Err(self.error(
                        plugin.at,
                        format!("unsupported plugin '{}'; supported: narrow", plugin.name),
                    ));
                }
                self.expect_punct("(")?;
                self.expect_punct(")")?;
                Op::Narrow
            }
            "mv-expand" => {
                let column = self.name("the column to expand")?;
                let to = if self.eat_word("to") {
                    self.expect_word("typeof")?;
                    self.expect_punct("(")?;
                    let ty = self.name("a type")?;
                    self.expect_punct(")")?;
                    Some(ty)
                } else {
                    None
                };
                if self.is_punct(",") {
                    return Err(self.error(self.at(), "mv-expand expands one column here"));
                }
                Op::MvExpand { column, to }
            }
            other => {
                return Err(self.error(
                    op.at,
                    format!("unsupported operator '{other}'; supported: {SUPPORTED_OPERATORS}"),
                ));
            }
        })
    }

    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T, QueryError>) -> Result<Vec<T>, QueryError> {
        let mut items = vec![item(self)?];
        while self.eat_punct(",") {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn assignment(&mut self) -> Result<Assignment, QueryError> {
        let named = matches!(self.peek(), Tok::Ident(_))
            && matches!(self.tokens.get(self.next + 1).map(|t| &t.tok), Some(Tok::Punct("=")));
        let name = if named {
            let name = self.name("a column name")?;
            self.advance();
            Some(name)
        } else {
            None
        };
        Ok(Assignment {
            name,
            expr: self.expr()?,
        })
    }

    /// A column name, possibly with `*` wildcards: the pieces must touch.
    fn pattern(&mut self) -> Result<Pattern, QueryError> {
        let at = self.at();
        let mut pattern = String::new();
        let mut end = at;
        loop {
            let token = &self.tokens[self.next];
            if token.at != end {
                break;
            }
            match &token.tok {
                Tok::Ident(name) => pattern.push_str(name),
                Tok::Punct("*") => pattern.push('*'),
                _ => break,
            }
            end = token.end;
            self.advance();
        }
        if pattern.is_empty() {
            return Err(self.expected("a column name"));
        }
        Ok(Pattern { pattern, at })
    }

    fn summarize(&mut self) -> Result<Op, QueryError> {
        let mut aggregates = Vec::new();
        if !self.is_word("by") {
            aggregates = self.list(|p| {
                let named = matches!(p.tokens.get(p.next + 1).map(|t| &t.tok), Some(Tok::Punct("=")));
                let name = if named {
                    let name = p.name("a column name")?;
                    p.advance();
                    Some(name)
                } else {
                    None
                };
                let function = p.name("an aggregation (count, dcount, min, max, sum, avg, arg_max, ...)")?;
                p.expect_punct("(")?;
                let args = p.arguments()?;
                Ok(Aggregate { name, function, args })
            })?;
        }
        let by = if self.eat_word("by") {
            self.list(Self::assignment)?
        } else {
            Vec::new()
        };
        if aggregates.is_empty() && by.is_empty() {
            return Err(self.expected("an aggregation or 'by'"));
        }
        Ok(Op::Summarize { aggregates, by })
    }

    fn sort_key(&mut self) -> Result<SortKey, QueryError> {
        let expr = self.expr()?;
        // KQL sorts descending unless told otherwise.
        let descending = if self.eat_word("asc") {
            false
        } else {
            self.eat_word("desc");
            true
        };
        let nulls_first = if self.eat_word("nulls") {
            if self.eat_word("first") {
                Some(true)
            } else {
                self.expect_word("last")?;
                Some(false)
            }
        } else {
            None
        };
        Ok(SortKey {
            expr,
            descending,
            nulls_first,
        })
    }

    /// Arguments after `(`, up to and including `)`.
    fn arguments(&mut self) -> Result<Vec<Expr>, QueryError> {
        let mut args = Vec::new();
        if self.eat_punct(")") {
            return Ok(args);
        }
        loop {
            if self.is_punct("*") {
                let at = self.advance().at;
                args.push(Expr {
                    kind: ExprKind::Star,
                    at,
                });
            } else {
                args.push(self.expr()?);
            }
            if self.eat_punct(")") {
                return Ok(args);
            }
            if !self.eat_punct(",") {
                return Err(self.expected("',' or ')'"));
            }
        }
    }

    pub fn expr(&mut self) -> Result<Expr, QueryError> {
        self.nest()?;
        let expr = self.or();
        self.nesting -= 1;
        expr
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.advance();
            let right = self.and()?;
            left = self.binary(BinaryOp::Or, left, right)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.comparison()?;
        while self.is_word("and") {
            self.advance();
            let right = self.comparison()?;
            left = self.binary(BinaryOp::And, left, right)?;
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.additive()?;
        let at = self.at();
        let op = match self.peek().clone() {
            Tok::Punct(p) => match p {
                "==" => BinaryOp::Eq,
                "!=" => BinaryOp::NotEq,
                "=~" => BinaryOp::EqCi,
                "!~" => BinaryOp::NotEqCi,
                "<" => BinaryOp::Lt,
                "<=" => BinaryOp::Le,
                ">" => BinaryOp::Gt,
                ">=" => BinaryOp::Ge,
                "=" => return Err(self.error(at, "'=' names a column; compare with '=='")),
                _ => return Ok(left),
            },
            Tok::Ident(word) | Tok::NotOp(word) => {
                let negated = matches!(self.peek(), Tok::NotOp(_));
                return self.word_operator(left, &word, negated, at);
            }
            _ => return Ok(left),
        };
        self.advance();
        let right = self.additive()?;
        self.binary(op, left, right)
    }

    /// `contains`, `!has`, `in`, `!in~`, ... after their left operand.
    fn word_operator(&mut self, subject: Expr, word: &str, negated: bool, at: usize) -> Result<Expr, QueryError> {
        if let Some((op, case_sensitive)) = TextOp::parse(word) {
            self.advance();
            let pattern = self.additive()?;
            return Ok(Expr {
                at: subject.at,
                kind: ExprKind::Text {
                    op,
                    negated,
                    case_sensitive,
                    subject: Box::new(subject),
                    pattern: Box::new(pattern),
                },
            });
        }
        if word == "between" {
            self.advance();
            self.expect_punct("(")?;
            let low = self.additive()?;
            self.expect_punct("..")?;
            let high = self.additive()?;
            self.expect_punct(")")?;
            return Ok(Expr {
                at: subject.at,
                kind: ExprKind::Between {
                    subject: Box::new(subject),
                    low: Box::new(low),
                    high: Box::new(high),
                    negated,
                },
            });
        }
        if word == "matches" && !negated {
            self.advance();
            self.expect_word("regex")?;
            let pattern = self.additive()?;
            return Ok(Expr {
                at: subject.at,
                kind: ExprKind::Matches {
                    subject: Box::new(subject),
                    pattern: Box::new(pattern),
                },
            });
        }
        if word == "has_any" && !negated {
            let list = self.value_list(word, at)?;
            return Ok(Expr {
                at: subject.at,
                kind: ExprKind::HasAny {
                    subject: Box::new(subject),
                    list,
                },
            });
        }
        if word == "in" || word == "in~" {
            let list = match self.tabular_list()? {
                Some(tabular) => vec![tabular],
                None => self.value_list(word, at)?,
            };
            return Ok(Expr {
                at: subject.at,
                kind: ExprKind::In {
                    subject: Box::new(subject),
                    list,
                    negated,
                    case_sensitive: word == "in",
                },
            });
        }
        if negated || !matches!(word, "and" | "or" | "by" | "asc" | "desc" | "nulls") {
            return Err(self.error(
                at,
                format!(
                    "unsupported operator '{}{word}'; supported: == != =~ !~ < <= > >= contains has startswith \
                     endswith (with ! and _cs forms) in !in in~ !in~ has_any between !between matches regex and or",
                    if negated { "!" } else { "" }
                ),
            ));
        }
        Ok(subject)
    }

    /// After `in`, `has_any`, ...: `(values)`, at least one.
    /// After `in`: `(T | ...)`, a tabular expression whose first column
    /// is the list (a bare `(T)` is told from a column by the translator).
    fn tabular_list(&mut self) -> Result<Option<Expr>, QueryError> {
        let tok = |i: usize| self.tokens.get(self.next + i).map(|t| &t.tok);
        let piped = matches!(tok(1), Some(Tok::Punct("(")))
            && matches!(tok(2), Some(Tok::Ident(_)))
            && matches!(tok(3), Some(Tok::Punct("|")));
        if !piped {
            return Ok(None);
        }
        self.advance();
        self.advance();
        let at = self.at();
        let pipeline = self.nested_pipeline(")")?;
        Ok(Some(Expr {
            at,
            kind: ExprKind::Tabular(Box::new(pipeline)),
        }))
    }

    fn value_list(&mut self, word: &str, at: usize) -> Result<Vec<Expr>, QueryError> {
        self.advance();
        self.expect_punct("(")?;
        let list = self.arguments()?;
        if list.is_empty() {
            return Err(self.error(at, format!("'{word}' needs at least one value")));
        }
        Ok(list)
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.is_punct("+") {
                BinaryOp::Add
            } else if self.is_punct("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            self.advance();
            let right = self.multiplicative()?;
            left = self.binary(op, left, right)?;
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("*") => BinaryOp::Mul,
                Tok::Punct("/") => BinaryOp::Div,
                Tok::Punct("%") => BinaryOp::Rem,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.unary()?;
            left = self.binary(op, left, right)?;
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.is_punct("-") {
            let at = self.advance().at;
            self.nest()?;
            let operand = self.unary();
            self.nesting -= 1;
            let operand = operand?;
            return Ok(Expr {
                kind: ExprKind::Negate(Box::new(operand)),
                at,
            });
        }
        self.primary()
    }

    /// A primary, then any `[index]` and `.member` after it.
    fn primary(&mut self) -> Result<Expr, QueryError> {
        let mut expr = self.atom()?;
        loop {
            let at = self.at();
            let key = if self.eat_punct("[") {
                self.nest()?;
                let index = self.expr();
                self.nesting -= 1;
                let index = index?;
                self.expect_punct("]")?;
                index
            } else if self.is_punct(".")
                && matches!(self.tokens.get(self.next + 1).map(|t| &t.tok), Some(Tok::Ident(_)))
            {
                self.advance();
                let member = self.name("a property name")?;
                Expr {
                    kind: ExprKind::Literal(Literal::Str(member.name)),
                    at: member.at,
                }
            } else {
                return Ok(expr);
            };
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                return Err(self.error(at, format!("a query has at most {MAX_OPERATORS} operators")));
            }
            expr = Expr {
                at: expr.at,
                kind: ExprKind::Index(Box::new(expr), Box::new(key)),
            };
        }
    }

    /// `dynamic(...)`'s value: JSON, with KQL's strings and numbers.
    fn json_value(&mut self) -> Result<serde_json::Value, QueryError> {
        use serde_json::Value;
        self.nest()?;
        let at = self.at();
        let value = match self.advance().tok {
            Tok::Str(s) => Value::String(s),
            Tok::Long(n) => Value::from(n),
            Tok::Real(r) => serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number),
            Tok::Punct("-") => match self.advance().tok {
                Tok::Long(n) => Value::from(n.wrapping_neg()),
                Tok::Real(r) => serde_json::Number::from_f64(-r).map_or(Value::Null, Value::Number),
                _ => return Err(self.error(at, "expected a number after '-'")),
            },
            Tok::Ident(word) if word == "true" => Value::Bool(true),
            Tok::Ident(word) if word == "false" => Value::Bool(false),
            Tok::Ident(word) if word == "null" => Value::Null,
            Tok::Punct("[") => {
                let mut items = Vec::new();
                if !self.eat_punct("]") {
                    loop {
                        items.push(self.json_value()?);
                        if self.eat_punct("]") {
                            break;
                        }
                        self.expect_punct(",")?;
                    }
                }
                Value::Array(items)
            }
            Tok::Punct("{") => {
                let mut bag = serde_json::Map::new();
                if !self.eat_punct("}") {
                    loop {
                        let key = match self.advance().tok {
                            Tok::Str(key) | Tok::Ident(key) => key,
                            _ => return Err(self.error(self.at(), "expected a property name")),
                        };
                        self.expect_punct(":")?;
                        bag.insert(key, self.json_value()?);
                        if self.eat_punct("}") {
                            break;
                        }
                        self.expect_punct(",")?;
                    }
                }
                Value::Object(bag)
            }
            _ => {
                return Err(self.error(
                    at,
                    "expected a value of dynamic(): [..], {..}, a string, a number, true, false or null",
                ));
            }
        };
        self.nesting -= 1;
        Ok(value)
    }

    fn atom(&mut self) -> Result<Expr, QueryError> {
        let at = self.at();
        let literal = |l| Expr {
            kind: ExprKind::Literal(l),
            at,
        };
        let expr = match self.peek().clone() {
            Tok::Str(s) if self.searching => Expr {
                kind: ExprKind::SearchTerm(s),
                at,
            },
            Tok::Str(s) => literal(Literal::Str(s)),
            Tok::Long(n) => literal(Literal::Long(n)),
            Tok::Real(r) => literal(Literal::Real(r)),
            Tok::Timespan(t) => literal(Literal::Timespan(t)),
            Tok::Datetime(raw) => literal(Literal::Datetime(raw)),
            Tok::Punct("(") => {
                self.advance();
                let inner = self.expr()?;
                self.expect_punct(")")?;
                return Ok(inner);
            }
            Tok::Ident(name) => {
                self.advance();
                if name == "dynamic" && self.eat_punct("(") {
                    let value = self.json_value()?;
                    self.expect_punct(")")?;
                    return Ok(literal(Literal::Dynamic(value)));
                }
                if name == "toscalar" && self.eat_punct("(") {
                    let pipeline = self.nested_pipeline(")")?;
                    return Ok(Expr {
                        kind: ExprKind::ToScalar(Box::new(pipeline)),
                        at,
                    });
                }
                if self.searching && self.eat_punct(":") {
                    // `Column:"value"`: the column has the term.
                    self.searching = false;
                    let pattern = self.primary();
                    self.searching = true;
                    let pattern = pattern?;
                    return Ok(Expr {
                        at,
                        kind: ExprKind::Text {
                            op: TextOp::Has,
                            negated: false,
                            case_sensitive: false,
                            subject: Box::new(Expr {
                                kind: ExprKind::Column(name),
                                at,
                            }),
                            pattern: Box::new(pattern),
                        },
                    });
                }
                if self.eat_punct("(") {
                    let args = self.arguments()?;
                    return Ok(Expr {
                        kind: ExprKind::Call(Name { name, at }, args),
                        at,
                    });
                }
                return Ok(match name.as_str() {
                    "true" => literal(Literal::Bool(true)),
                    "false" => literal(Literal::Bool(false)),
                    _ => Expr {
                        kind: ExprKind::Column(name),
                        at,
                    },
                });
            }
            // `$table`, the column `search` and `union withsource` add.
            Tok::Punct("$") if matches!(self.tokens.get(self.next + 1).map(|t| &t.tok), Some(Tok::Ident(_))) => {
                self.advance();
                let name = self.name("a column name")?;
                return Ok(Expr {
                    kind: ExprKind::Column(format!("${}", name.name)),
                    at,
                });
            }
            _ => return Err(self.expected("a column, a literal or a function call")),
        };
        self.advance();
        Ok(expr)
    }
}

fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr {
        at: left.at,
        kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
    }
}
