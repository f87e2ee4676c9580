-- Pressroom's Postgres schema: sites, their revisions, and each revision's posts, sections
-- (full text + vectors) and media, plus the embedding cache shared by every site.
--
-- Idempotent: every statement is IF NOT EXISTS (or guarded), so it can run on every start.
-- database.migrate runs it in one transaction under an advisory lock, which makes concurrent
-- first runs safe (CREATE EXTENSION / CREATE TABLE IF NOT EXISTS race on the catalogs otherwise).
--
-- Vector columns are untyped `vector` so the embedding dimension is a setting, not a schema
-- change. HNSW indexes need a fixed dimension, so they are expression partial indexes, one
-- per loaded revision, built by pressroom/db/revision_indexes.py, never here.
-- To change an existing table later, append `ALTER TABLE ... ADD COLUMN IF NOT EXISTS ...`:
-- CREATE TABLE IF NOT EXISTS never alters a table that is already there.
-- No foreign keys on the bulk tables: COPY speed matters and rows only ever arrive through
-- database.load_revision, which writes a whole revision in one transaction.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS schema_migrations (
    sha256      text PRIMARY KEY,  -- sha256 of this file as applied
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sites (
    site_id           text PRIMARY KEY,
    current_revision  text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS revisions (
    site_id             text NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    revision_id         text NOT NULL,
    job_id              text NOT NULL,
    state               text NOT NULL DEFAULT 'loading' CHECK (state IN ('loading', 'ready')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    committed_at        timestamptz,
    counts              jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding_provider  text NOT NULL,
    embedding_model     text NOT NULL,
    dimensions          integer NOT NULL CHECK (dimensions > 0),
    PRIMARY KEY (site_id, revision_id)
);

-- The current revision must exist: deleting it (pruning) fails instead of orphaning the site.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'sites_current_revision_fkey' AND conrelid = 'sites'::regclass
    ) THEN
        ALTER TABLE sites ADD CONSTRAINT sites_current_revision_fkey
            FOREIGN KEY (site_id, current_revision) REFERENCES revisions (site_id, revision_id);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS posts (
    site_id         text NOT NULL,
    revision_id     text NOT NULL,
    post_id         text NOT NULL,
    slug            text NOT NULL,
    path            text NOT NULL,
    title           text NOT NULL DEFAULT '',
    url             text,  -- where the site publishes it (absolute or root-relative)
    aliases         text[] NOT NULL DEFAULT '{}',
    date            timestamptz,
    updated         timestamptz,
    authors         text[] NOT NULL DEFAULT '{}',
    tags            text[] NOT NULL DEFAULT '{}',
    categories      text[] NOT NULL DEFAULT '{}',
    description     text NOT NULL DEFAULT '',
    excerpt         text NOT NULL DEFAULT '',
    summary         text NOT NULL DEFAULT '',
    draft           boolean NOT NULL DEFAULT false,
    word_count      integer NOT NULL DEFAULT 0,
    reading_time    integer NOT NULL DEFAULT 0,
    content_sha256  text NOT NULL DEFAULT '',
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,  -- links, images, front_matter
    PRIMARY KEY (site_id, revision_id, post_id)
);

CREATE OR REPLACE FUNCTION pressroom_regconfig(lang text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT lang::regconfig $$;

-- Full text covers the first 250,000 characters of a section: Postgres refuses a tsvector
-- over 1 MB, and one pasted blob must not fail a whole revision's load.
CREATE TABLE IF NOT EXISTS sections (
    site_id         text NOT NULL,
    revision_id     text NOT NULL,
    section_id      text NOT NULL,
    post_id         text NOT NULL,
    post_title      text NOT NULL DEFAULT '',  -- denormalised: it weighs in the tsvector
    anchor          text NOT NULL DEFAULT '',
    heading         text NOT NULL DEFAULT '',
    level           smallint NOT NULL DEFAULT 0,
    position        integer NOT NULL DEFAULT 0,
    content         text NOT NULL DEFAULT '',
    content_sha256  text NOT NULL DEFAULT '',
    lang            text NOT NULL DEFAULT 'english',
    tsv             tsvector GENERATED ALWAYS AS (
                        setweight(to_tsvector(pressroom_regconfig(lang), coalesce(post_title, '')), 'A')
                        || setweight(to_tsvector(pressroom_regconfig(lang), coalesce(heading, '')), 'B')
                        || setweight(to_tsvector(pressroom_regconfig(lang), left(content, 250000)), 'C')
                    ) STORED,
    dims            integer,
    embedding       vector,
    CONSTRAINT sections_dims_check CHECK (
        (embedding IS NULL) = (dims IS NULL) AND (embedding IS NULL OR vector_dims(embedding) = dims)
    ),
    PRIMARY KEY (site_id, revision_id, section_id)
);

CREATE INDEX IF NOT EXISTS sections_tsv_gin ON sections USING gin (tsv);

CREATE TABLE IF NOT EXISTS media (
    site_id      text NOT NULL,
    revision_id  text NOT NULL,
    path         text NOT NULL,
    mime         text NOT NULL,
    bytes        bigint NOT NULL,
    sha256       text NOT NULL,
    width        integer,
    height       integer,
    alt_texts    text[] NOT NULL DEFAULT '{}',
    post_ids     text[] NOT NULL DEFAULT '{}',
    description  text NOT NULL DEFAULT '',
    dims         integer,
    embedding    vector,
    CONSTRAINT media_dims_check CHECK (
        (embedding IS NULL) = (dims IS NULL) AND (embedding IS NULL OR vector_dims(embedding) = dims)
    ),
    PRIMARY KEY (site_id, revision_id, path)
);

CREATE TABLE IF NOT EXISTS embedding_cache (
    provider      text NOT NULL,
    model         text NOT NULL,
    dimensions    integer NOT NULL,
    input_sha256  text NOT NULL,
    embedding     vector NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embedding_cache_dims_check CHECK (vector_dims(embedding) = dimensions),
    PRIMARY KEY (provider, model, dimensions, input_sha256)
);

-- Incremental revisions (issue 4). `requested_at` orders a site's revisions: the request
-- time of the job that loaded it (JobInput.requested_at). A revision never becomes current
-- over one with a later (requested_at, job_id), and pruning never removes the current one
-- or one ordered after it. `repo_url` and `dist_folder` let `pressroom reindex` rebuild a
-- site from its last source without the caller repeating it.
ALTER TABLE revisions ADD COLUMN IF NOT EXISTS requested_at timestamptz;
ALTER TABLE revisions ADD COLUMN IF NOT EXISTS repo_url text;
ALTER TABLE revisions ADD COLUMN IF NOT EXISTS dist_folder text;

-- Search and discovery (issue 5).
-- Each section is stemmed in its post's language (`lang` front matter, else the site
-- default): `lang` holds a text-search configuration name ('english', 'french', ...), checked
-- against pg_ts_config by the loader. The wrapper is declared IMMUTABLE so the generated
-- column may use it: built-in configurations never change under a running database.

ALTER TABLE sections ADD COLUMN IF NOT EXISTS lang text NOT NULL DEFAULT 'english';

-- Upgrade an older `tsv` (English only, uncapped) once: a generated column's expression
-- cannot be altered in place before PostgreSQL 17. Same weights: title A, heading B, body C.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attrdef AS d
        JOIN pg_attribute AS a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = 'sections'::regclass AND a.attname = 'tsv'
          AND pg_get_expr(d.adbin, d.adrelid) LIKE '%pressroom_regconfig%'
          AND pg_get_expr(d.adbin, d.adrelid) LIKE '%250000%'
    ) THEN
        ALTER TABLE sections DROP COLUMN IF EXISTS tsv;
        ALTER TABLE sections ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector(pressroom_regconfig(lang), coalesce(post_title, '')), 'A')
            || setweight(to_tsvector(pressroom_regconfig(lang), coalesce(heading, '')), 'B')
            || setweight(to_tsvector(pressroom_regconfig(lang), left(content, 250000)), 'C')
        ) STORED;
        CREATE INDEX IF NOT EXISTS sections_tsv_gin ON sections USING gin (tsv);
    END IF;
END
$$;

-- Related posts: for each post of a revision, its nearest posts by the cosine similarity of
-- the mean of their section vectors (never the post itself); computed in load_revision.
CREATE TABLE IF NOT EXISTS related_posts (
    site_id          text NOT NULL,
    revision_id      text NOT NULL,
    post_id          text NOT NULL,
    rank             smallint NOT NULL CHECK (rank > 0),
    related_post_id  text NOT NULL CHECK (related_post_id <> post_id),
    similarity       real NOT NULL,
    PRIMARY KEY (site_id, revision_id, post_id, rank)
);

-- Small image previews for the search page (`GET /media/...`). The previews themselves are
-- content-addressed (`image_thumbnails`, below): a revision only links each path to one.
CREATE TABLE IF NOT EXISTS media_thumbnails (
    site_id       text NOT NULL,
    revision_id   text NOT NULL,
    path          text NOT NULL,
    image_sha256  text NOT NULL,
    spec          text NOT NULL,
    PRIMARY KEY (site_id, revision_id, path)
);

-- Image descriptions from a vision model, shared by every site: an image is described once
-- per (content, model, prompt version), so retries and later revisions never ask again.
CREATE TABLE IF NOT EXISTS image_descriptions (
    image_sha256    text NOT NULL,
    model           text NOT NULL,
    prompt_version  text NOT NULL,
    description     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_sha256, model, prompt_version)
);

-- Published data is never lost (issue 10). A published folder belongs to one site: the first
-- job that publishes to (location, folder) claims it (pressroom/publish/layout.py), and no other
-- site may publish to it or to a folder nested inside or around it. `output_key` is the hash
-- of everything that decides a revision's bytes: a revision id reused for other output is
-- refused instead of being loaded over.
CREATE TABLE IF NOT EXISTS published_folders (
    location    text NOT NULL,  -- the artifact store: a directory or s3://bucket/prefix
    folder      text NOT NULL,  -- the distFolder, normalised
    site_id     text NOT NULL,
    job_id      text NOT NULL DEFAULT '',  -- '' when adopted from an existing latest.json
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location, folder)
);

ALTER TABLE revisions ADD COLUMN IF NOT EXISTS output_key text;

-- Images off the critical path (issue 12): a preview is made once per (image content,
-- thumbnail spec) and shared by every revision and site, so an unchanged image is never
-- decoded again. A row without data is an image that cannot be read (also never tried again).
CREATE TABLE IF NOT EXISTS image_thumbnails (
    image_sha256  text NOT NULL,
    spec          text NOT NULL,  -- content.thumbnails.THUMBNAIL_SPEC: size, format, quality
    mime          text,
    width         integer,
    height        integer,
    data          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT image_thumbnails_data_check CHECK (
        (data IS NULL) = (mime IS NULL) AND (data IS NULL) = (width IS NULL)
        AND (data IS NULL) = (height IS NULL)
    ),
    PRIMARY KEY (image_sha256, spec)
);

-- Revisions loaded before that stored a copy of each preview: move the previews into
-- image_thumbnails (they were made with the first spec) and keep only the links.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = 'media_thumbnails'::regclass AND attname = 'data' AND NOT attisdropped
    ) THEN
        ALTER TABLE media_thumbnails ADD COLUMN IF NOT EXISTS image_sha256 text;
        ALTER TABLE media_thumbnails ADD COLUMN IF NOT EXISTS spec text;
        UPDATE media_thumbnails AS t SET image_sha256 = m.sha256, spec = 'webp-320-q75-m4'
        FROM media AS m
        WHERE m.site_id = t.site_id AND m.revision_id = t.revision_id AND m.path = t.path;
        INSERT INTO image_thumbnails (image_sha256, spec, mime, width, height, data)
        SELECT DISTINCT ON (image_sha256) image_sha256, spec, mime, width, height, data
        FROM media_thumbnails WHERE image_sha256 IS NOT NULL
        ORDER BY image_sha256
        ON CONFLICT DO NOTHING;
        DELETE FROM media_thumbnails WHERE image_sha256 IS NULL;
        ALTER TABLE media_thumbnails
            DROP COLUMN mime, DROP COLUMN width, DROP COLUMN height, DROP COLUMN data,
            ALTER COLUMN image_sha256 SET NOT NULL, ALTER COLUMN spec SET NOT NULL;
    END IF;
END
$$;

-- Requests in flight to a provider, split among a task queue's workers (issue 12): each
-- worker renews a lease on its share every few seconds (pressroom/db/leases.py); a dead
-- worker's lease expires and its share returns to the others. Transient rows only.
CREATE TABLE IF NOT EXISTS budget_leases (
    key         text NOT NULL,  -- task queue, provider base URL and model
    holder      text NOT NULL,  -- host:pid:random of one worker process
    granted     integer NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (key, holder)
);

-- Per-revision indexes (issues 12 and 13): each loaded revision gets its own partial HNSW
-- and GIN indexes on sections and media, built after its load commits
-- (pressroom/db/revision_indexes.py), so no load ever inserts into a graph another revision
-- built and a search walks only its revision's entries. Recorded here so a pruned
-- revision's indexes are dropped with it. The shared per-dimension indexes of before are
-- dropped: every load after the first inserted into them row by row. (Named
-- `vector_indexes` while it held HNSW indexes only.)
DO $$
BEGIN
    IF to_regclass('vector_indexes') IS NOT NULL AND to_regclass('revision_indexes') IS NULL THEN
        ALTER TABLE vector_indexes RENAME TO revision_indexes;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS revision_indexes (
    index_name   text PRIMARY KEY,
    table_name   text NOT NULL,
    site_id      text NOT NULL,
    revision_id  text NOT NULL,
    dims         integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    legacy record;
BEGIN
    FOR legacy IN
        SELECT indexname FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename IN ('sections', 'media')
          AND indexname ~ '^(sections|media)_embedding_hnsw_[0-9]+$'
    LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', legacy.indexname);
    END LOOP;
END
$$;

-- Search at interactive speed (issue 13).
-- Images are found by their words (description, alt texts, file name) through a stored
-- tsvector, stemmed in the language of the first post that shows them (`lang`, like
-- sections'), instead of one computed per image on every query. The wrapper is IMMUTABLE
-- (concat_ws and array_to_string are only STABLE) so the generated column may use it.
CREATE OR REPLACE FUNCTION pressroom_media_doc(description text, alt_texts text[], path text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(description, '') || ' ' || coalesce(array_to_string(alt_texts, ' '), '')
           || ' ' || regexp_replace(regexp_replace(path, '^.*/|\.[^.]*$', '', 'g'),
                                    '[-_.+]+', ' ', 'g')
$$;

ALTER TABLE media ADD COLUMN IF NOT EXISTS lang text NOT NULL DEFAULT 'english';
ALTER TABLE media ADD COLUMN IF NOT EXISTS tsv tsvector GENERATED ALWAYS AS (
    to_tsvector(pressroom_regconfig(lang), left(pressroom_media_doc(description, alt_texts, path), 250000))
) STORED;

-- Filtered vector searches that HNSW cannot serve read the matching posts' sections by post.
CREATE INDEX IF NOT EXISTS sections_post ON sections (site_id, revision_id, post_id);
-- Date-filtered searches read the revision's posts in the range, not all its posts.
CREATE INDEX IF NOT EXISTS posts_date ON posts (site_id, revision_id, date);

-- How many of a revision's sections hold each word (`ts_stat` at load, pressroom/db/terms.py):
-- a full-text search ranks the sections holding the query's rarer words, not every section
-- that holds a word as common as "use" (14,000 of 30,000 sections in a 10,000-post revision).
CREATE TABLE IF NOT EXISTS revision_terms (
    site_id      text NOT NULL,
    revision_id  text NOT NULL,
    lexeme       text NOT NULL,
    sections     integer NOT NULL,
    PRIMARY KEY (site_id, revision_id, lexeme)
);

-- Tag filters: a post's tags lower-cased, indexed, so a search filtered by tag reads the
-- posts that carry it rather than every post of the revision. IMMUTABLE as lower() is used
-- in every index on text: the database's collation does not change under it.
CREATE OR REPLACE FUNCTION pressroom_lower_tags(tags text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(lower(t)), '{}') FROM unnest(tags) AS t
$$;
CREATE INDEX IF NOT EXISTS posts_tags_gin ON posts USING gin (pressroom_lower_tags(tags));

-- A post's public URL, its other URLs and what a listing shows (issue 14): a database created
-- before them gets them here; rows loaded then keep NULL / '{}' / '' (no URL, no summary).
ALTER TABLE posts ADD COLUMN IF NOT EXISTS url text;
ALTER TABLE posts ADD COLUMN IF NOT EXISTS aliases text[] NOT NULL DEFAULT '{}';
ALTER TABLE posts ADD COLUMN IF NOT EXISTS summary text NOT NULL DEFAULT '';

-- Where the site serves each image, and its copy in the artifact store (issue 14).
ALTER TABLE media ADD COLUMN IF NOT EXISTS url text;
ALTER TABLE media ADD COLUMN IF NOT EXISTS published_url text;

-- Registered sites (issue 15): what `POST /sites/{site}/builds`, a site's Temporal Schedule
-- and push webhooks build. `spec` is the registration as the API shows it (URLs redacted);
-- the credentials of its URLs and the webhook secret are sealed (pressroom/security/sealing.py).
-- `repository_key` is how push webhooks find the site (pressroom/triggers/matching.py).
CREATE TABLE IF NOT EXISTS site_registry (
    site_id          text PRIMARY KEY,
    spec             jsonb NOT NULL,
    sealed           jsonb NOT NULL DEFAULT '{}'::jsonb,
    repository_key   text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_job         jsonb,
    last_delivery    jsonb,
    schedule         jsonb  -- the schedule as last set through Pressroom; Temporal holds it
);
CREATE INDEX IF NOT EXISTS site_registry_repository ON site_registry (repository_key);
