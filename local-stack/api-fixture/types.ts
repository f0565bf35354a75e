/** The response shapes: the parts of the real Yelp Fusion v3 and HN Algolia APIs this fixture imitates. */

export interface YelpCategory {
  alias: string;
  title: string;
}

export interface YelpCoordinates {
  latitude: number;
  longitude: number;
}

export interface YelpSearchLocation {
  address1: string;
  address2: string | null;
  address3: string | null;
  city: string;
  zip_code: string;
  country: string;
  state: string;
  display_address: string[];
}

export interface YelpDetailsLocation extends YelpSearchLocation {
  cross_streets: string;
}

export interface YelpOpenPeriod {
  is_overnight: boolean;
  /** "HHMM", 24-hour clock. */
  start: string;
  end: string;
  /** 0 = Monday … 6 = Sunday. */
  day: number;
}

export interface YelpHours {
  open: YelpOpenPeriod[];
  hours_type: 'REGULAR';
  is_open_now: boolean;
}

export interface YelpSearchBusiness {
  id: string;
  alias: string;
  name: string;
  image_url: string;
  is_closed: boolean;
  url: string;
  review_count: number;
  categories: YelpCategory[];
  rating: number;
  coordinates: YelpCoordinates;
  transactions: string[];
  /** Absent when Yelp does not know the price level. */
  price?: string;
  location: YelpSearchLocation;
  phone: string;
  display_phone: string;
  /** Meters from the search's region center. */
  distance: number;
}

export interface YelpBusinessDetails {
  id: string;
  alias: string;
  name: string;
  image_url: string;
  is_claimed: boolean;
  is_closed: boolean;
  url: string;
  phone: string;
  display_phone: string;
  review_count: number;
  categories: YelpCategory[];
  rating: number;
  location: YelpDetailsLocation;
  coordinates: YelpCoordinates;
  photos: string[];
  price?: string;
  /** Absent for businesses without published hours. */
  hours?: YelpHours[];
  transactions: string[];
}

export interface YelpSearchResponse {
  businesses: YelpSearchBusiness[];
  total: number;
  region: { center: { longitude: number; latitude: number } };
}

export interface HnAlgoliaItem {
  id: number;
  /** ISO 8601 with milliseconds, e.g. "2006-10-09T18:21:51.000Z". */
  created_at: string;
  /** Unix seconds. */
  created_at_i: number;
  type: 'story' | 'comment' | 'job';
  author: string;
  title: string | null;
  url: string | null;
  /** HTML, as HN stores it (entities escaped, paragraphs separated by <p>). */
  text: string | null;
  points: number | null;
  parent_id: number | null;
  story_id: number;
  options: number[];
  children: HnAlgoliaItem[];
}
