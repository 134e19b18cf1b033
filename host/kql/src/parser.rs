//! Tokens → [`Query`], by recursive descent. Precedence, loosest first:
//! `or`, `and`, comparisons and string operators, `+ -`, `* / %`, unary `-`.

use super::QueryError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};

pub const SUPPORTED_OPERATORS: &str = "where, project, project-away, project-rename, extend, \
     summarize, order by, sort by, top, take, limit, distinct, count";

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
        if self.is_word("let") {
            return Err(self.error(self.at(), "'let' statements are not supported; start with a table name"));
        }
        let table = self.name("a table name (ConfigurationChange or ConfigurationData)")?;
        let mut ops = Vec::new();
        while self.eat_punct("|") {
            ops.push(self.operator()?);
        }
        if *self.peek() != Tok::End {
            return Err(self.expected("'|' or the end of the query"));
        }
        Ok(Query { table, ops })
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
        if word == "in" || word == "in~" {
            self.advance();
            self.expect_punct("(")?;
            let list = self.arguments()?;
            if list.is_empty() {
                return Err(self.error(at, "'in' needs at least one value"));
            }
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
                     endswith (with ! and _cs forms) in !in in~ !in~ and or",
                    if negated { "!" } else { "" }
                ),
            ));
        }
        Ok(subject)
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

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let at = self.at();
        let literal = |l| Expr {
            kind: ExprKind::Literal(l),
            at,
        };
        let expr = match self.peek().clone() {
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
