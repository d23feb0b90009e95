"""Web pages: thin views over selectors and the aggregation service.

Every amount on these pages comes from `cper.finance.aggregation` (execution, execution_series,
pace) called once per figure; each table is exported from the very object the page renders
(`?export=<table>&format=csv|xlsx`), so a page, its exports and the CLI agree.

One module per job: `page` (what every figures page shares: the date, filters, links, the
operations table, rendering), `dashboard` (home, contract, dashboard), `scopes` (axis,
objective, partner), `territories` (map, département, EPCI, project territory) and `focus`
(the employment, training and career guidance page).
"""
