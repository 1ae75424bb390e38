-- 020: on a DuckLake, the search index's rows are stored by week, then team, then time, in row groups of 32768.
--
-- Why: a search reads the Parquet row groups whose statistics (date range, team) can hold its rows. In write
-- order a row group of the default 122880 rows holds about four days of every team, so one team's 30 days meant
-- reading and decoding the term lists of every team's 30 days (1M sentences at 1M conversations) to keep 1/20 of
-- them. Sorted by week and team, that team's rows of each week lie together and a smaller row group holds little
-- else: at 1M conversations the search process's CPU time for «вернуть деньги», one team, 30 days went 200 -> 120 ms,
-- while all teams over 30 days read what they read before (each week's rows still lie together). DuckLake sorts
-- each insert (a night's chunk) and each file compaction merges (`qa compact`); files written before keep
-- their order until compaction rewrites them.
--
-- ducklake: only (a DuckDB file keeps its rows in write order, which is date order, and prunes by its zone maps)
ALTER TABLE search_sentences SET SORTED BY (date_trunc('week', dated_at), team, dated_at);
CALL lake.set_option('parquet_row_group_size', 32768, table_name => 'search_sentences');
