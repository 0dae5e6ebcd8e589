-- Search, second form: a B-tree of (term, message) instead of a full-text
-- index. InnoDB's FULLTEXT builds a query's whole match set before it can
-- sort it (2.6 s for the commonest word of 1,000,000 messages); postings in
-- a primary key are read newest first and the reading stops at a page.
--
-- search_postings: one row per distinct term of each live message; `term`
--   is the term's key (see app/src/backend/search_text.rs). The second key
--   finds a message's rows when it is edited or deleted.
-- search_texts: the message's text folded (NFKC, lower case): a query's
--   words and CJK runs are looked for in it after the postings narrow the
--   candidates.
DROP TABLE search_terms;

CREATE TABLE search_postings (
    term       BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    PRIMARY KEY (term, message_id),
    KEY search_postings_message (message_id)
) ENGINE=InnoDB;

CREATE TABLE search_texts (
    message_id BIGINT NOT NULL PRIMARY KEY,
    plain      MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The tables start empty: the next server to start indexes every message.
UPDATE search_index SET version = 0 WHERE id = 1;
