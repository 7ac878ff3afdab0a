"""A tiny self-contained code location for the browser test: two trivial assets."""

import dagster as dg


@dg.asset(group_name="ui_smoke", description="A few numbers.")
def ui_numbers() -> list[int]:
    return [1, 2, 3]


@dg.asset(group_name="ui_smoke", description="Their sum.")
def ui_total(ui_numbers: list[int]) -> dg.Output[int]:
    total = sum(ui_numbers)
    return dg.Output(total, metadata={"total": total})


# In-process: one run process instead of one per step keeps the UI round trip short.
defs = dg.Definitions(assets=[ui_numbers, ui_total], executor=dg.in_process_executor)
