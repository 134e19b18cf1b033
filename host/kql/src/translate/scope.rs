//! `let` statements and user-defined functions. Nothing is materialised:
//! a `let` or a function is translated at each use, in the scope it was
//! defined in, so it sees only the names bound before it (and so can never
//! call itself); one that is never used binds nothing.

use super::{Stage, Translator, Typed};
use crate::QueryError;
use crate::Type;
use crate::ast::*;

/// What a name is bound to.
#[derive(Debug, Clone)]
pub(super) enum Binding {
    /// An expression, and how much of the scope it sees.
    Scalar {
        expr: Expr,
        depth: usize,
    },
    /// A pipeline, and how much of the scope it sees.
    Tabular {
        pipeline: Pipeline,
        depth: usize,
    },
    Function {
        function: Function,
        depth: usize,
    },
    /// A function's parameter while its body is translated: it hides a
    /// column of the same name. With the number of pipelines open where it
    /// was bound: a column's value means nothing inside a nested one.
    Param(Typed, usize),
}

/// How deep `let`s and functions may use one another.
const MAX_INLINED: usize = 64;

/// An empty row shape: scalar `let`s and function arguments of a
/// tabular call see no columns.
fn no_columns() -> Stage {
    Stage {
        sql: String::new(),
        columns: Vec::new(),
        ordered: false,
    }
}

impl Translator<'_> {
    fn binding(&self, name: &str) -> Option<&Binding> {
        self.scope.iter().rev().find(|(n, _)| n == name).map(|(_, b)| b)
    }

    pub(super) fn function(&self, name: &str) -> Option<(&Function, usize)> {
        match self.binding(name) {
            Some(Binding::Function { function, depth }) => Some((function, *depth)),
            _ => None,
        }
    }

    /// Runs `body` seeing only the first `depth` bindings, then puts the
    /// scope back; refused past [`MAX_INLINED`] uses within uses.
    fn within<T>(
        &mut self,
        depth: usize,
        at: usize,
        body: impl FnOnce(&mut Self) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        if self.inlined >= MAX_INLINED {
            return Err(self.error(
                at,
                format!("let statements and functions use one another at most {MAX_INLINED} deep"),
            ));
        }
        self.inlined += 1;
        let hidden = self.scope.split_off(depth.min(self.scope.len()));
        let result = body(self);
        self.scope.truncate(depth);
        self.scope.extend(hidden);
        self.inlined -= 1;
        result
    }

    pub(super) fn bind_lets(&mut self, lets: &[Let]) -> Result<(), QueryError> {
        for statement in lets {
            self.check_new_name(&statement.name)?;
            let depth = self.scope.len();
            let binding = match &statement.value {
                LetValue::Tabular(pipeline) => Binding::Tabular {
                    pipeline: pipeline.clone(),
                    depth,
                },
                LetValue::Function(function) => Binding::Function {
                    function: function.clone(),
                    depth,
                },
                LetValue::Expr(expr) => match self.as_source(expr) {
                    Some(source) => Binding::Tabular {
                        pipeline: Pipeline {
                            source,
                            ops: Vec::new(),
                        },
                        depth,
                    },
                    None => Binding::Scalar {
                        expr: expr.clone(),
                        depth,
                    },
                },
            };
            self.scope.push((statement.name.name.clone(), binding));
        }
        Ok(())
    }

    /// An expression that names something tabular (`let T = ConfigurationData;`,
    /// `let T = f(1);`), as a pipeline's source.
    pub(super) fn as_source(&self, expr: &Expr) -> Option<Source> {
        match &expr.kind {
            ExprKind::Column(name) => {
                let tabular = match self.binding(name) {
                    Some(binding) => matches!(binding, Binding::Tabular { .. }),
                    None => self.catalog.find(name).is_some(),
                };
                tabular.then(|| {
                    Source::Name(Name {
                        name: name.clone(),
                        at: expr.at,
                    })
                })
            }
            ExprKind::Call(name, args) => match self.function(&name.name) {
                Some((function, depth)) if self.is_tabular(function, depth) => {
                    Some(Source::Call(name.clone(), args.clone()))
                }
                _ => None,
            },
            ExprKind::ToScalar(_) => None,
            _ => None,
        }
    }

    /// A source named `name`: a tabular `let`, else a table.
    pub(super) fn named_table(&mut self, name: &Name) -> Result<Stage, QueryError> {
        match self.binding(&name.name).cloned() {
            Some(Binding::Tabular { pipeline, depth }) => self.within(depth, name.at, |t| t.pipeline(&pipeline)),
            Some(Binding::Function { .. }) => Err(self.error(
                name.at,
                format!("'{}' is a function: call it with its arguments", name.name),
            )),
            Some(Binding::Scalar { .. } | Binding::Param(..)) => {
                Err(self.error(name.at, format!("'{}' is a scalar, not a table", name.name)))
            }
            None => self.base(name),
        }
    }

    /// A tabular function's call as a source.
    pub(super) fn tabular_call(&mut self, name: &Name, args: &[Expr]) -> Result<Stage, QueryError> {
        let Some((function, depth)) = self.function(&name.name).map(|(f, d)| (f.clone(), d)) else {
            return Err(self.error(
                name.at,
                format!("'{}' is not a function defined by a let statement", name.name),
            ));
        };
        let values = self.arguments(name, &function, args, &no_columns())?;
        self.within(depth, name.at, |t| {
            t.bind_params(&function, values);
            t.bind_lets(&function.lets)?;
            match function.body.as_ref() {
                LetValue::Tabular(pipeline) => t.pipeline(pipeline),
                LetValue::Expr(expr) => match t.as_source(expr) {
                    Some(source) => t.source(&source),
                    None => Err(t.error(name.at, format!("{}() returns a scalar, not a table", name.name))),
                },
                LetValue::Function(_) => Err(t.error(name.at, format!("{}() returns a function", name.name))),
            }
        })
    }

    /// A user function's call in an expression.
    pub(super) fn user_call(&mut self, stage: &Stage, name: &Name, args: &[Expr]) -> Result<Typed, QueryError> {
        let Some((function, depth)) = self.function(&name.name).map(|(f, d)| (f.clone(), d)) else {
            return Err(self.error(name.at, format!("unknown function '{}'", name.name)));
        };
        let values = self.arguments(name, &function, args, stage)?;
        self.within(depth, name.at, |t| {
            t.bind_params(&function, values);
            t.bind_lets(&function.lets)?;
            match function.body.as_ref() {
                LetValue::Expr(expr) if t.as_source(expr).is_none() => t.expr(expr, stage),
                _ => Err(t.error(
                    name.at,
                    format!(
                        "{}() returns a table: use it as a query's source, or in toscalar()",
                        name.name
                    ),
                )),
            }
        })
    }

    /// A call's arguments (or the parameters' defaults), checked against
    /// the declared types.
    fn arguments(
        &mut self,
        name: &Name,
        function: &Function,
        args: &[Expr],
        stage: &Stage,
    ) -> Result<Vec<Typed>, QueryError> {
        if args.len() > function.params.len() {
            return Err(self.error(
                name.at,
                format!("{}() takes at most {} argument(s)", name.name, function.params.len()),
            ));
        }
        let mut values = Vec::new();
        for (i, param) in function.params.iter().enumerate() {
            let (value, at) = match (args.get(i), &param.default) {
                (Some(arg), _) => (self.expr(arg, stage)?, arg.at),
                (None, Some(default)) => (self.expr(default, &no_columns())?, default.at),
                (None, None) => {
                    return Err(self.error(
                        name.at,
                        format!("{}() needs its argument '{}'", name.name, param.name.name),
                    ));
                }
            };
            let Some(declared) = declared_type(&param.ty.name) else {
                return Err(self.error(param.ty.at, format!("unknown type '{}'", param.ty.name)));
            };
            let fits = value.ty == declared || (declared == Type::Real && value.ty == Type::Long);
            if !fits {
                return Err(self.error(
                    at,
                    format!(
                        "'{}' is declared {} but given a {}",
                        param.name.name,
                        declared.name(),
                        value.ty.name()
                    ),
                ));
            }
            values.push(value);
        }
        Ok(values)
    }

    fn bind_params(&mut self, function: &Function, values: Vec<Typed>) {
        for (param, value) in function.params.iter().zip(values) {
            let binding = Binding::Param(value, self.pipelines);
            self.scope.push((param.name.name.clone(), binding));
        }
    }

    /// A name in an expression: a function's parameter, else a column,
    /// else a scalar `let`.
    pub(super) fn name_value(&mut self, stage: &Stage, name: &str, at: usize) -> Result<Typed, QueryError> {
        let bound = self.binding(name).cloned();
        if let Some(Binding::Param(value, pipelines)) = &bound {
            if value.as_const().is_none() && self.pipelines > *pipelines {
                return Err(self.error(
                    at,
                    format!(
                        "'{name}' is given a column's value, which a query nested in the function (toscalar, \
                         a let) cannot see; pass a constant"
                    ),
                ));
            }
            return Ok(value.clone());
        }
        if let Some(column) = stage.find(name) {
            return Ok(Typed::sql(column.ty, super::quote(name)));
        }
        match bound {
            Some(Binding::Scalar { expr, depth }) => self.within(depth, at, |t| t.expr(&expr, &no_columns())),
            Some(Binding::Tabular { .. }) => Err(self.error(
                at,
                format!("'{name}' is a table; use toscalar({name} | ...) for one value of it"),
            )),
            Some(Binding::Function { .. }) => Err(self.error(at, format!("'{name}' is a function: call it"))),
            _ if self.catalog.find(name).is_some() => Err(self.error(
                at,
                format!("'{name}' is a table; use toscalar({name} | ...) for one value of it"),
            )),
            _ => Err(self.unknown_column(stage, name, at)),
        }
    }

    /// `toscalar(pipeline)`: its first column of its first row, or null.
    pub(super) fn scalar_of(&mut self, pipeline: &Pipeline) -> Result<Typed, QueryError> {
        let stage = self.pipeline(pipeline)?;
        let Some(first) = stage.columns.first().cloned() else {
            return Err(self.error(pipeline.source.at(), "toscalar() needs a column"));
        };
        let order = if stage.ordered {
            format!(" ORDER BY {}", super::ORDER)
        } else {
            String::new()
        };
        let sql = format!(
            "(SELECT {} FROM ({}) AS t{order} LIMIT 1)",
            super::quote(&first.name),
            stage.sql
        );
        Ok(Typed::sql(first.ty, sql))
    }
}

impl Translator<'_> {
    /// Whether a function defined at `depth` returns a table: a pipeline,
    /// or a bare name that is a table where it was defined.
    fn is_tabular(&self, function: &Function, depth: usize) -> bool {
        match function.body.as_ref() {
            LetValue::Tabular(_) => true,
            LetValue::Expr(Expr {
                kind: ExprKind::Column(name),
                ..
            }) => {
                let visible = &self.scope[..depth.min(self.scope.len())];
                let bound = function.params.iter().any(|p| &p.name.name == name)
                    || function.lets.iter().any(|l| &l.name.name == name);
                !bound
                    && match visible.iter().rev().find(|(n, _)| n == name) {
                        Some((_, binding)) => matches!(binding, Binding::Tabular { .. }),
                        None => self.catalog.find(name).is_some(),
                    }
            }
            _ => false,
        }
    }
}

/// The type a parameter declares.
fn declared_type(name: &str) -> Option<Type> {
    Some(match name {
        "string" => Type::String,
        "long" | "int" => Type::Long,
        "real" | "double" | "decimal" => Type::Real,
        "bool" | "boolean" => Type::Bool,
        "datetime" | "date" => Type::Datetime,
        "timespan" | "time" => Type::Timespan,
        _ => return None,
    })
}
