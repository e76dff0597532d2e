//! The spatial index that resolves a place to its grid cell, and through it
//! to its community and street (PRODUCT.md M2).
//!
//! An R-tree (`rstar`) over the cells' bounding boxes narrows a lookup to a
//! handful of candidates; an exact point-in-polygon test decides.

use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

use crate::domain::geometry::Polygon;

/// A grid cell as the index knows it.
#[derive(Clone, Debug)]
pub struct IndexedGrid {
    /// Grid row id.
    pub id: i64,
    /// 15-digit code.
    pub code: String,
    /// Owning community.
    pub community_id: i64,
    /// Owning street.
    pub street_id: i64,
    /// Boundary, WGS-84.
    pub polygon: Polygon,
}

/// Where a place lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Grid row id.
    pub grid_id: i64,
    /// Community unit id.
    pub community_id: i64,
    /// Street unit id.
    pub street_id: i64,
}

/// An immutable index of one district's grid cells.
#[derive(Debug, Default)]
pub struct GridIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    cells: Vec<IndexedGrid>,
}

impl GridIndex {
    /// Builds the index (bulk-loaded: O(n log n)).
    pub fn build(cells: Vec<IndexedGrid>) -> GridIndex {
        let entries = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let (a, b, c, d) = cell.polygon.bbox();
                GeomWithData::new(Rectangle::from_corners([a, b], [c, d]), i)
            })
            .collect();
        GridIndex { tree: RTree::bulk_load(entries), cells }
    }

    /// The cell containing the point, if any.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<&IndexedGrid> {
        self.tree
            .locate_all_at_point([lon, lat])
            .map(|entry| &self.cells[entry.data])
            .find(|cell| cell.polygon.contains(lon, lat))
    }

    /// The grid, community and street of the point, if it lies in a cell.
    pub fn resolve(&self, lon: f64, lat: f64) -> Option<Location> {
        self.locate(lon, lat).map(|cell| Location {
            grid_id: cell.id,
            community_id: cell.community_id,
            street_id: cell.street_id,
        })
    }

    /// How many cells the index holds.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True when the district has no cells yet.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells, in the order given to [`GridIndex::build`].
    pub fn cells(&self) -> &[IndexedGrid] {
        &self.cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(id: i64, x: f64, y: f64) -> IndexedGrid {
        let ring = vec![(x, y), (x + 1.0, y), (x + 1.0, y + 1.0), (x, y + 1.0), (x, y)];
        IndexedGrid {
            id,
            code: format!("{id:015}"),
            community_id: 100 + id,
            street_id: 1000,
            polygon: Polygon::new(ring).unwrap(),
        }
    }

    #[test]
    fn a_point_resolves_to_the_cell_it_lies_in() {
        let index = GridIndex::build(vec![cell(1, 0.0, 0.0), cell(2, 1.0, 0.0), cell(3, 0.0, 1.0)]);
        assert_eq!(index.resolve(1.5, 0.5), Some(Location { grid_id: 2, community_id: 102, street_id: 1000 }));
        assert_eq!(index.resolve(0.2, 1.9).map(|l| l.grid_id), Some(3));
        assert_eq!(index.resolve(1.5, 1.5), None, "outside every cell");
    }

    #[test]
    fn a_triangle_cell_does_not_claim_its_bounding_box_corner() {
        let triangle = Polygon::new(vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]).unwrap();
        let index = GridIndex::build(vec![IndexedGrid {
            id: 9,
            code: "x".into(),
            community_id: 1,
            street_id: 2,
            polygon: triangle,
        }]);
        assert!(index.resolve(0.2, 0.2).is_some());
        assert!(index.resolve(0.9, 0.9).is_none());
    }
}
