-- Private room names scoped to their creator; see
-- migrations/mysql/0007_private_names_scoped.sql.
UPDATE rooms SET name_key = char(2) || created_by || ':' || name_key
    WHERE is_private = 1 AND is_direct = 0;
