//! `post { always { } failure { } ... }`.

use super::cx::{CallView, Cx};
use super::sections::{Expected, expect_call};
use super::steps;
use crate::{Post, PostBlock, PostCondition};
use kiln_diagnostics::Diagnostic;

const NOT_A_POST_CONDITION: Expected = Expected {
    code: "expected-post-condition",
    message: "expected a post condition",
    hint: "e.g. `always { ... }` or `failure { ... }`",
};

pub(super) fn post(cx: &mut Cx, call: &CallView<'_>) -> Post {
    let keywords: Vec<&str> = PostCondition::ALL.iter().map(|c| c.keyword()).collect();
    let mut blocks: Vec<PostBlock> = Vec::new();
    for stmt in call.body() {
        let Some(b) = expect_call(cx, stmt, &NOT_A_POST_CONDITION) else {
            continue;
        };
        let Some(condition) = PostCondition::from_keyword(b.name.value) else {
            cx.unknown(
                "unknown-post-condition",
                "post condition",
                b.name,
                &keywords,
            );
            continue;
        };
        if let Some(first) = blocks.iter().find(|x| x.condition == condition) {
            cx.push(
                Diagnostic::error(
                    "duplicate-post-condition",
                    format!("post condition `{}` is given twice", condition.keyword()),
                )
                .with_primary(b.name.span, "second occurrence")
                .with_secondary(first.span, "first occurrence"),
            );
            continue;
        }
        let steps = steps::steps_block(cx, &b);
        blocks.push(PostBlock {
            condition,
            steps,
            span: b.span,
        });
    }
    // Entries but no condition among them: the section is empty, as Jenkins' validator
    // also says (at the `post` itself) beside each entry that is not a condition.
    if blocks.is_empty() && !call.body().is_empty() {
        cx.error(
            "empty-section",
            call.name.span,
            "`post` is empty: none of its entries is a post condition",
            "give it a condition, such as `always { echo 'done' }`",
        );
    }
    blocks.sort_by_key(|b| b.condition);
    Post { blocks }
}
