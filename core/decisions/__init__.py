"""Between data and heads, decisions: the rules that turn scores into answers, shared by the fitted heads (stage 5)
and the answers (stage 6) so that neither imports the other for them: operating points (`operating_points`), the
event timeline (`timeline`) and the child-level answer of an examination (`child`). Nothing here trains a
classifier; a rule at most chooses a threshold or a pooling on out-of-fold scores it is handed."""
