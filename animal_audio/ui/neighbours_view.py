"""The Classify tab's "what is your sound close to?": each model's map of the ESC-50 clips, its nearest clips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from animal_audio.demo import text
from animal_audio.examples import clip_path
from animal_audio.i18n import DEFAULT, tr
from animal_audio.plots.clip_map import NEIGHBOUR_HEADERS, neighbour_rows
from animal_audio.run_view import clip_in_row
from animal_audio.ui.common import PRIVATE
from animal_audio.ui.i18n import lang_of, t


@dataclass(frozen=True)
class NeighbourViews:
    """Per side: the map and the nearest clips; one player for the clip clicked."""

    maps: dict[str, gr.Plot]
    tables: dict[str, gr.Dataframe]
    player: gr.Audio

    def show(self, payload: dict[str, Any], figures: dict[str, Any], lang: str = DEFAULT) -> dict[Any, Any]:
        """The views of one answer (`payload` is the /classify JSON, `figures` its drawn charts) in `lang`."""
        headers = [tr(key, lang) for key in NEIGHBOUR_HEADERS]
        shown: dict[Any, Any] = {self.maps[s]: figures.get(f"map:{s}") for s in self.maps}
        for side, table in self.tables.items():
            rows = neighbour_rows(payload["models"][side].get("neighbours"), lang)
            value = pd.DataFrame(rows, columns=headers) if rows else None
            shown[table] = gr.Dataframe(value=value, visible=bool(rows))
        return shown

    @property
    def views(self) -> list[Any]:
        return [*self.maps.values(), *self.tables.values()]


def play_neighbour(table: Any, event: gr.SelectData, request: gr.Request) -> Any:
    """Clicking a nearest clip plays it (when the ESC-50 clips are on this machine)."""
    name = clip_in_row(table, event.index)
    path = clip_path(name) if name else None
    if name and path is None:
        gr.Warning(tr("clip_not_here", lang_of(request), filename=name))
    return gr.Audio(value=str(path), label=name, visible=True) if path else gr.skip()


def neighbours_section() -> NeighbourViews:
    """An accordion under the answer; filled by the classify event (no request of its own)."""
    with gr.Accordion(t("map_title"), open=False, elem_id="neighbours"):
        gr.Markdown(t("map_help"))
        with gr.Row(equal_height=False):
            maps, tables = {}, {}
            for side in text.SIDES:
                with gr.Column(min_width=300):
                    maps[side] = gr.Plot(show_label=False, elem_id=f"map-{side}")
                    tables[side] = gr.Dataframe(
                        headers=[tr(key) for key in NEIGHBOUR_HEADERS],
                        column_widths=["40%", "32%", "28%"],
                        interactive=False,
                        visible=False,
                        label=t(f"nearest_{side}"),
                        elem_id=f"neighbours-{side}",
                    )
        player = gr.Audio(
            label=t("nearest_player"), interactive=False, visible=False, elem_id="neighbour-audio"
        )
    views = NeighbourViews(maps, tables, player)
    for table in tables.values():
        table.select(play_neighbour, inputs=table, outputs=player, **PRIVATE)
    return views
