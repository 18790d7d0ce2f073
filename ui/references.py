"""The infant's reference cries (cry task): one uploader for the Analyze and Batch pages, kept in the session for
that infant until cleared (`ui.state.keep_files`), never stored on the server."""
import streamlit as st

from ui.state import AUDIO_TYPES, current_task, keep_files, kept_notice

PAGE = "references"  # one set per session, shared by the pages: the references belong to the infant, not a page
EXPLAIN = ("Cries of **the same infant** recorded without pain (bath, nappy change, hunger). Infants' cries differ "
           "more from each other than pain and discomfort do, so with two or more of them the pain answer is judged "
           "against this infant's own cries (validated on infants the model never heard; figures on the Model "
           "metrics page). Kept in this browser session's memory for this infant until you clear them; clear them "
           "before analysing another infant.")


def reference_cries(page: str) -> list[tuple[str, bytes]]:
    """The reference cries to use on `page` (empty for the respiratory task or when none are given)."""
    if current_task() != "cry":
        return []
    kept_before = bool(st.session_state.get(f"kept_{PAGE}"))
    with st.expander("This infant's reference cries (no pain) — optional", expanded=kept_before):
        st.markdown(EXPLAIN)
        files = st.file_uploader("This infant's reference cries (no pain)", type=AUDIO_TYPES,
                                 accept_multiple_files=True, key=f"refs_{page}")
        given = [(f.name, f.getvalue()) for f in files or []]
        kept, restored = keep_files(PAGE, given)
        if restored:
            kept_notice(PAGE, [n for n, _ in kept],
                        what=f"Using this infant's {len(kept)} reference cr{'y' if len(kept) == 1 else 'ies'} given "
                             "earlier")
    return kept


def reference_messages(result) -> None:
    """Which references the answer used, and a plain message for each one not used and why."""
    from core.answers.analyzer import reference_words

    refs = result.references
    if refs is None or not refs.cries:
        return
    for c in refs.rejected:
        st.warning(f"Reference **{c.name}** not used: {c.reason}.")
    if refs.k and not result.verdict.abstained:
        st.success(reference_words(result, rejected=False))
