-- Search, second form; see migrations/mysql/0020_search_postings.sql.
DROP TABLE search_terms;

CREATE TABLE search_postings (
    term       INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (term, message_id)
) WITHOUT ROWID;
CREATE INDEX search_postings_message ON search_postings (message_id);

CREATE TABLE search_texts (
    message_id INTEGER NOT NULL PRIMARY KEY,
    plain      TEXT NOT NULL
);

UPDATE search_index SET version = 0 WHERE id = 1;
