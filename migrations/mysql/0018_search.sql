-- Search: one row per live message, written in the transaction that posts,
-- edits or deletes it (see app/src/backend/search_text.rs for the terms).
--
-- terms: the message's distinct terms, each `t` + hex of its UTF-8 (words,
--   and CJK characters and overlapping pairs), so the stock InnoDB full-text
--   parser, minimum token size and stopword list keep every one.
-- plain: the text folded (NFKC, lower case): a query's words and CJK runs
--   are looked for in it after the index narrows the candidates.
CREATE TABLE search_terms (
    message_id BIGINT NOT NULL PRIMARY KEY,
    terms      MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    plain      MEDIUMTEXT NOT NULL,
    FULLTEXT KEY search_terms_terms (terms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Which version of the terms the rows hold: a server that finds an older
-- one (0: messages from before search existed) indexes them again.
CREATE TABLE search_index (
    id      INT NOT NULL PRIMARY KEY,
    version INT NOT NULL
) ENGINE=InnoDB;
INSERT INTO search_index (id, version) VALUES (1, 0);
