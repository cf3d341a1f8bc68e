-- A short pickup code beside the QR token, for a person to read aloud and
-- type: unique, so that a code names one order. Orders made before it have
-- none (NULL, which a unique index lets repeat).
ALTER TABLE qr_codes ADD COLUMN code TEXT;
CREATE UNIQUE INDEX qr_codes_code ON qr_codes (code);
