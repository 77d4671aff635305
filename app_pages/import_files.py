"""Import: upload usage files (every format of `spendlake import`: event files, Claude Code logs, OTLP spans,
LiteLLM, Langfuse, provider reports); see what landed and download the records that went to quarantine, each
with its reason."""

import tempfile
from pathlib import Path

import streamlit as st

from ingest import schema as s
from ingest.importers import FORMATS, generic
from spendlake import ui, usecases

IGNORED = "(not imported)"

lake = ui.lake()
st.title("Import usage")

uploads = st.file_uploader("Files", type=["csv", "jsonl", "json", "parquet"], accept_multiple_files=True,
                           key="import-files")
left, right = st.columns(2)
chosen = left.selectbox("Format", ["detect from content", *FORMATS], key="import-format")
tz = right.text_input("Time zone of timestamps without one (e.g. Europe/Berlin)", key="import-tz")
st.download_button("Download a CSV template", generic.TEMPLATE, "spendlake-template.csv", "text/csv",
                   help="The columns Spendlake reads, with two example rows", key="import-template")

# which event column each column of the files becomes: shown, and changeable, before anything is written
proposed = usecases.upload_mapping([(u.name, u.getvalue()) for u in uploads or ()],
                                   None if chosen.startswith("detect") else chosen)
mapping: dict[str, str] = {}
if proposed:
    st.caption("Each column of your file(s) becomes the event column shown (common spellings such as timestamp, "
               "prompt_tokens or cost are recognised; a missing service is taken from the model where its price "
               "is known). Change any before importing.")
    options = [IGNORED, *s.ACCEPTED]
    boxes = st.columns(3)
    for i, (column, target) in enumerate(proposed.items()):
        target = boxes[i % 3].selectbox(column, options, index=options.index(target or IGNORED), key=f"map-{column}")
        mapping[column] = "" if target == IGNORED else target

if st.button("Import", type="primary", disabled=not uploads):
    bar = st.progress(0.0, text="Reading…")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for upload in uploads:
            path = Path(folder) / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            paths.append(path)
        summary = usecases.import_files(
            lake, paths, format=None if chosen.startswith("detect") else chosen, tz=tz or None,
            remember=False,  # uploads land in a new temp folder each time
            mapping=mapping,
            names={path: path.name for path in paths},
            projects=ui.allowed(),
            progress=lambda done, total: bar.progress(min(done / max(total, 1), 1.0), text=f"{done:,} of {total:,} bytes"))
    bar.progress(1.0, text="Done")
    st.session_state["import-summary"] = summary

summary = st.session_state.get("import-summary")
if summary is not None:
    cols = st.columns(4)
    cols[0].metric("Imported", f"{summary.imported:,}")
    cols[1].metric("Already in the lake", f"{summary.duplicates:,}")
    cols[2].metric("Quarantined", f"{summary.quarantined:,}")
    cols[3].metric("Without a price", f"{summary.unpriced:,}")
    if summary.reported:
        st.info(f"Kept {summary.reported:,} rows of providers' cost reports: compare them with the events under "
                "Prices → Reported against computed.")
    if summary.repeats:
        st.info(f"{summary.repeats:,} exact repeats of a record were counted as duplicates; they are kept in the "
                "quarantine file below, with the line they repeat.")
    for failure in summary.failed:
        st.error(f"Not read: {failure}")
    for note in summary.notes:
        st.info(note)
    for message in summary.problem_messages():  # one per problem, with how many records had it
        st.error(message)
    for path in summary.quarantine_files:
        st.download_button(f"Quarantined records: {path.name}", path.read_bytes(), path.name, "application/jsonl",
                           key=f"quarantine-{path.name}")

st.subheader("Coding agents on this machine")
st.caption("Claude Code, Codex, Gemini CLI and OpenCode keep their logs in their own folders on the machine this "
           "app runs on; what is new since the last import is read (`spendlake import --agents` does the same).")
found = {f.agent.name: f for f in usecases.agent_logs()}
st.dataframe([{"agent": name, "log files": f.count, "where": ", ".join(map(str, f.folders))}
              for name, f in found.items()], hide_index=True, width="stretch",
             column_config={"agent": "Agent", "log files": st.column_config.NumberColumn("Log files", format="localized"),
                            "where": "Where Spendlake looks"})
if st.button("Import the agents' logs", disabled=not any(f.files for f in found.values()), key="import-agents"):
    with st.spinner("Reading the agents' logs…"):
        st.session_state["agents-summary"] = usecases.import_agents(lake, projects=ui.allowed())
for each in st.session_state.get("agents-summary", []):
    if each.summary is not None:
        st.write(f"**{each.agent}**: imported {each.summary.imported:,} events, {each.summary.duplicates:,} already "
                 f"in the lake, {each.summary.quarantined:,} quarantined"
                 + (f"; {each.summary.unchanged:,} files unchanged" if each.summary.unchanged else ""))
        for message in each.summary.problem_messages()[:3]:
            st.warning(message)
