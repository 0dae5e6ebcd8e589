-- Search; see migrations/mysql/0018_search.sql. The rowid is the message's id.
CREATE VIRTUAL TABLE search_terms USING fts5(terms, plain UNINDEXED, detail = none, tokenize = 'ascii');

CREATE TABLE search_index (
    id      INTEGER NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO search_index (id, version) VALUES (1, 0);
